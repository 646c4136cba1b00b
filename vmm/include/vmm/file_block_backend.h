// A raw image file as a block device's storage, on the live side (ftvm run, record, primary).
// submit() only queues: the vCPU thread never waits for the disk. A thread of its own runs an
// io_uring with every queued request in flight at once, and each completion goes to the
// EventQueue as a BlockCompletion, which the vCPU applies (and a recorder logs) between two
// exits. Read data travels in the completion: the file is never read into guest RAM directly.
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

namespace ftvm {

class FileBlockBackend final : public BlockBackend {
 public:
  // Opens `path` (read-write unless `read_only`); its size must be a multiple of 512 bytes.
  static Result<std::unique_ptr<FileBlockBackend>> open(const std::string& path, bool read_only,
                                                        EventQueue& events);
  // The checks open() makes, without keeping anything open: for a caller that hands the file
  // to another process and wants a bad image said first. The image's size in bytes.
  static Result<uint64_t> check(const std::string& path, bool read_only);
  // Waits for the requests in flight: a write the guest was not yet told about still lands.
  ~FileBlockBackend() override;
  FileBlockBackend(const FileBlockBackend&) = delete;
  FileBlockBackend& operator=(const FileBlockBackend&) = delete;

  void submit(BlockRequest request) override;
  uint64_t size_bytes() const { return size_; }

  struct Ring;

 private:
  FileBlockBackend(UniqueFd file, uint64_t size, EventQueue& events, std::unique_ptr<Ring> ring);
  void loop();

  UniqueFd file_;
  uint64_t size_;
  EventQueue& events_;
  std::unique_ptr<Ring> ring_;
  UniqueFd wake_;
  std::mutex mutex_;
  std::deque<BlockRequest> queued_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ftvm
