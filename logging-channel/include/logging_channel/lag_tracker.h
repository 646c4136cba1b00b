// How far the backup is behind the primary, in exits and in time; the primary is throttled
// when the time grows past --max-lag, because that time is what a failover would spend
// replaying before the backup goes live.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>

#include "logging_channel/latency.h"

namespace ftvm::channel {

// Thread-safe.
//
// lag_time is "now minus when the primary left the backup's exit" (first reached a later one):
// how long ago the primary was where the backup is now. A primary that sat at an exit (halted)
// is not ahead while it sits there. The primary
// reports its position at every turn, but only sparse samples are kept (at most one per
// kSampleInterval, at most kMaxSamples of them), so the lag is underestimated by up to one
// sampling interval, and for a backup further behind than the oldest sample it is a lower
// bound.
class LagTracker {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::microseconds kSampleInterval{250};
  static constexpr size_t kMaxSamples = 4096;

  // vCPU thread, at every turn.
  void primary_at(uint64_t exit_count, Clock::time_point now);
  // On each ack: the backup's exit count. A backup level with (or ahead of) the primary has
  // no lag.
  void backup_at(uint64_t exit_count, Clock::time_point now);

  std::chrono::nanoseconds lag_time() const;
  uint64_t lag_exits() const;
  // Over the acks seen.
  LatencySummary lag_summary() const;
  // How long the backup took to catch up: from its first ack to the first at which it was
  // level with the primary past the exit it started at. A backup starts behind by the guest's
  // first stretch without an exit, whatever its speed, since it may replay only what the
  // primary has finished (about 80 ms of boot code on kvm_pvm, where CPL0 is emulated). None
  // until then.
  std::optional<std::chrono::nanoseconds> catch_up_time() const;
  // Over the acks since the backup caught up: the lag while it follows, without the start.
  LatencySummary steady_lag_summary() const;

 private:
  struct Sample {
    uint64_t exit_count = 0;
    Clock::time_point first_at;  // when the primary first reported this exit count
  };

  void maybe_sample_locked(Clock::time_point now);
  Clock::time_point first_reached_locked(uint64_t exit_count) const;

  mutable std::mutex mutex_;
  std::deque<Sample> samples_;  // increasing in both fields
  bool primary_seen_ = false;
  Sample primary_now_;  // the primary's latest exit count and when it first reported it
  uint64_t backup_exit_count_ = 0;
  std::chrono::nanoseconds lag_time_{0};
  LatencyRecorder lag_;
  std::optional<Sample> backup_start_;  // its first ack's exit count and time
  std::optional<Clock::time_point> caught_up_at_;
  LatencyRecorder steady_lag_;
};

}  // namespace ftvm::channel
