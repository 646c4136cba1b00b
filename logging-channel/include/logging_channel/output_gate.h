// The output rule: an external output leaves only after the backup acknowledged the log that
// produced it, so whatever the outside world saw, a backup that takes over can reproduce.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <vector>

#include "logging_channel/latency.h"
#include "vmm/devices/console.h"

namespace ftvm::channel {

// Holds console output until Ack::received_lsn reaches the LSN each output requires.
//
// Outputs leave in the order they were held, even when a later one requires a smaller LSN
// than an earlier one: the console is a byte stream, and letting the later bytes overtake
// would reorder what the guest wrote. Required LSNs are normally non-decreasing anyway.
//
// Thread-safe. Downstream writes happen under the gate's lock, so two threads releasing at
// once cannot interleave or reorder them; the downstream sink must therefore not call back
// into the gate.
class OutputGate {
 public:
  using Clock = std::chrono::steady_clock;

  explicit OutputGate(ConsoleSink& downstream);

  // vCPU thread. `required_lsn`: the number of log entries the backup must have acknowledged
  // (Ack::received_lsn >= required_lsn) before these bytes may leave. Passes straight
  // through once open(), is dropped once discard()ed.
  void hold(std::span<const uint8_t> bytes, uint64_t required_lsn);
  // Any thread: the backup acknowledged `acked_lsn` entries in an ack that arrived at
  // `arrived_at`. Writes every output that is now releasable and not queued behind one that
  // is not, in hold order.
  void release_through(uint64_t acked_lsn, Clock::time_point arrived_at = Clock::now());
  // The link thread or the vCPU thread: the log up to `sent_lsn` entries left for the backup
  // in a frame stamped `sent_at`. Only for hold_beyond_round_trip().
  void sent_through(uint64_t sent_lsn, Clock::time_point sent_at);
  // The lease (docs/failover.md, "The lease"): with one set, output leaves only while the
  // lease runs, that is before `lease` has passed since the primary sent the latest frame the
  // backup acknowledged (renew_lease). A backup declares its primary lost only after hearing
  // nothing for its declare timeout, which the lease is shorter than: so a primary that was
  // stalled (SIGSTOP, a long page fault, a loaded host) and then reads acks that predate the
  // stall releases nothing, however many it reads, while the backup may already be live.
  // Zero (the default): no lease.
  void set_lease(Clock::duration lease);
  // Any thread: the backup acknowledged a frame the primary sent at `sent_at` (Ack::
  // echo_sent_ns); the lease runs to sent_at + lease if that is later than it ran so far.
  void renew_lease(Clock::time_point sent_at);
  // Whether output may leave at `now` as far as the lease goes.
  bool lease_holds(Clock::time_point now) const;
  // Unprotected from now on (the backup is gone and this side won the arbiter): releases
  // everything held; later holds pass straight through. Ignored after discard().
  void open();
  // A backup joined this unprotected side (docs/failover.md, "Re-protection"): output waits
  // again, for acks of the log from LSN `first_lsn` on (the backup holds everything before it
  // as transferred state) and for a lease the new backup renews. Ignored unless open.
  void protect_again(uint64_t first_lsn);
  // This side halts (it lost the arbiter): drops everything held and every later hold, so
  // nothing the winner may not reproduce escapes. Final.
  void discard();

  uint64_t held_bytes() const;
  uint64_t released_bytes() const;  // total written downstream
  uint64_t discarded_bytes() const;
  // From hold() to release, over the outputs released while the gate was closed. Bytes merged
  // into an earlier output count from that output's hold(), the longer wait.
  LatencySummary hold_latency() const;
  // What the gate added to each of those outputs beyond its own log's round trip: the hold
  // minus (the ack's arrival - the send of the frame that carried the output's log), that is
  // the wait before the send plus the wait from the ack to the release (a lease, an output
  // ahead, a busy link thread). An output whose log was acknowledged before it was held
  // counts its whole hold. The output rule's own cost, which a round trip over all frames
  // (PrimaryLinkStats::round_trip) does not show: outputs come in bursts of one-byte exits,
  // whose frames queue behind each other.
  LatencySummary hold_beyond_round_trip() const;

 private:
  struct Held {
    std::vector<uint8_t> bytes;
    uint64_t required_lsn = 0;
    Clock::time_point held_at;
    Clock::time_point sent_at{};   // unset until its log was sent
    Clock::time_point acked_at{};  // unset until an ack covered it
  };
  enum class Mode { kGated, kOpen, kDiscarding };

  void release_locked(Clock::time_point now);
  void note_release_locked(const Held& output, Clock::time_point now);
  bool lease_holds_locked(Clock::time_point now) const;
  void write_locked(std::span<const uint8_t> bytes);

  ConsoleSink& downstream_;
  mutable std::mutex mutex_;
  std::deque<Held> held_;
  Mode mode_ = Mode::kGated;
  uint64_t acked_lsn_ = 0;
  Clock::duration lease_{};
  Clock::time_point lease_until_{};
  uint64_t held_bytes_ = 0;
  uint64_t released_bytes_ = 0;
  uint64_t discarded_bytes_ = 0;
  LatencyRecorder latency_;
  LatencyRecorder beyond_round_trip_;
};

}  // namespace ftvm::channel
