// The network card's host side on Linux: a TAP device (ftvm --net tap:NAME). A thread reads
// the frames the host network sends to the guest and queues each as an event (the recorder
// logs it; the device sees it only when it is applied between exits). transmit() writes a
// guest's frame to the TAP at once; on a protected primary the output gate calls it only once
// the backup has the log that produced the frame.
//
// A backup opens its TAP standing by: while it replays, its guest's frames are the primary's
// output and what arrives on its TAP is not its guest's input (the log is), so both are
// dropped until go_live().
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "vmm/devices/net_frame.h"
#include "vmm/event_queue.h"
#include "vmm/result.h"
#include "vmm/unique_fd.h"

namespace ftvm {

class TapBackend final : public NetSink {
 public:
  // Attaches to the TAP interface `name` in this process's network namespace (it must exist,
  // e.g. from `ip tuntap add NAME mode tap` or scripts/lab, or be creatable: root). Received
  // frames go to `events`, which must outlive the backend.
  enum class Mode { kLive, kStandingBy };
  static Result<std::unique_ptr<TapBackend>> open(const std::string& name, EventQueue& events,
                                                  Mode mode = Mode::kLive);
  ~TapBackend() override;
  TapBackend(const TapBackend&) = delete;
  TapBackend& operator=(const TapBackend&) = delete;

  // vCPU thread; never blocks: a frame the TAP cannot take now is dropped (counted), as a
  // full NIC queue drops.
  void transmit(std::vector<uint8_t> frame) override;

  // A standing-by backup takes over: frames flow both ways from now on, and the network is
  // told where `mac` is now (RARP announcements, as QEMU's self-announce sends, so a switch
  // learns the new port without waiting for the guest to speak).
  void go_live(const std::array<uint8_t, 6>& mac);

  const std::string& name() const { return name_; }
  uint64_t received() const { return received_.load(); }
  uint64_t sent() const { return sent_.load(); }
  uint64_t dropped() const { return dropped_.load(); }

 private:
  TapBackend(std::string name, UniqueFd tap, UniqueFd stop, EventQueue& events, Mode mode);
  void read_frames();

  std::string name_;
  UniqueFd tap_;
  UniqueFd stop_;
  EventQueue& events_;
  std::atomic<bool> live_;
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> dropped_{0};
  std::thread thread_;
};

}  // namespace ftvm
