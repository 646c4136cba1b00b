// A disk served over NBD (ftvm disk-server --export, or any NBD server) as a block device's
// storage, through libnbd. Like FileBlockBackend, submit() only queues; a thread of its own
// keeps every request in flight on the connection (libnbd's asynchronous API) and hands each
// completion, with its data, to the EventQueue. A dead connection completes what was in
// flight, and everything after, with an I/O error: the guest sees failed requests, never a
// hang.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "vmm/devices/block_request.h"
#include "vmm/event_queue.h"
#include "vmm/result.h"
#include "vmm/unique_fd.h"

struct nbd_handle;

namespace ftvm {

class NbdBlockBackend final : public BlockBackend {
 public:
  // `uri`: an NBD URI as libnbd takes it (nbd://HOST:PORT/EXPORT, nbd+unix:///EXPORT?socket=P).
  static Result<std::unique_ptr<NbdBlockBackend>> connect(const std::string& uri,
                                                          EventQueue& events);
  // Waits for the requests in flight, then disconnects.
  ~NbdBlockBackend() override;
  NbdBlockBackend(const NbdBlockBackend&) = delete;
  NbdBlockBackend& operator=(const NbdBlockBackend&) = delete;

  void submit(BlockRequest request) override;
  uint64_t size_bytes() const { return size_; }
  bool read_only() const { return read_only_; }

 private:
  NbdBlockBackend(nbd_handle* handle, uint64_t size, bool read_only, EventQueue& events);
  void loop();
  void issue(BlockRequest request);

  nbd_handle* handle_;
  uint64_t size_;
  bool read_only_;
  EventQueue& events_;
  UniqueFd wake_;
  std::mutex mutex_;
  std::deque<BlockRequest> queued_;
  bool stopping_ = false;
  size_t in_flight_ = 0;  // loop thread only
  std::thread thread_;
};

}  // namespace ftvm
