// The output rule for the network: on a protected primary a transmitted frame is an output,
// like console bytes. It leaves only once the backup has acknowledged the log up to the exit
// that queued it (and while the primary's lease runs), so whatever the network saw, a backup
// that takes over can reproduce. Frames leave in the order the guest queued them.
//
// A backup's card sends through one too, standing by while the backup replays (the frames its
// guest sends again were the primary's to send), open once it went live, and gated again when
// a backup joins it.
//
// Thread-safe: the vCPU thread transmits and tags; the link thread releases on acks.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

#include "logging_channel/held_output.h"
#include "logging_channel/held_queue.h"
#include "vmm/devices/net_frame.h"

namespace ftvm::channel {

class NetGate final : public NetSink, public HeldOutput {
 public:
  // `lease_holds` says whether output may leave now (OutputGate::lease_holds).
  NetGate(NetSink& network, std::function<bool()> lease_holds);

  // vCPU thread, during the exit that queued the frame.
  void transmit(std::vector<uint8_t> frame) override;
  bool tag(uint64_t required_lsn) override;
  void release_through(uint64_t acked_lsn) override;
  void open() override;
  void protect_again(uint64_t first_lsn) override;
  void discard() override;
  // From now until open(): every frame is dropped as a replayed one (a backup's replay).
  void stand_by();

  struct Stats {
    uint64_t sent = 0;       // handed to the network
    uint64_t held = 0;       // waiting for their ack now
    uint64_t discarded = 0;  // dropped by discard()
    uint64_t replayed = 0;   // dropped while standing by
  };
  Stats stats() const;

 private:
  enum class Mode { kGated, kOpen, kDiscarding, kStandingBy };

  void send_locked(std::vector<uint8_t> frame);
  void release_locked();

  NetSink& network_;
  std::function<bool()> lease_holds_;
  mutable std::mutex mutex_;
  Mode mode_ = Mode::kGated;
  HeldQueue<std::vector<uint8_t>> frames_;
  Stats stats_;
};

}  // namespace ftvm::channel
