#include "logging_channel/lag_tracker.h"

#include <algorithm>

namespace ftvm::channel {

void LagTracker::primary_at(uint64_t exit_count, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (!primary_seen_ || exit_count > primary_now_.exit_count) {
    primary_now_ = Sample{exit_count, now};
    primary_seen_ = true;
  }
  maybe_sample_locked(now);
}

void LagTracker::backup_at(uint64_t exit_count, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  backup_exit_count_ = exit_count;
  // The backup is as far behind as the time since the primary left the backup's exit: a
  // primary that sat at that exit (halted) until a moment ago is only a moment ahead.
  const bool level = !primary_seen_ || exit_count >= primary_now_.exit_count;
  lag_time_ = level
                  ? std::chrono::nanoseconds(0)
                  : std::max(std::chrono::nanoseconds(0),
                             std::chrono::nanoseconds(now - first_reached_locked(exit_count + 1)));
  lag_.add(lag_time_);
  if (!backup_start_) backup_start_ = Sample{exit_count, now};
  if (!caught_up_at_ && level && exit_count > backup_start_->exit_count) caught_up_at_ = now;
  if (caught_up_at_) steady_lag_.add(lag_time_);
}

std::chrono::nanoseconds LagTracker::lag_time() const {
  std::lock_guard lock(mutex_);
  return lag_time_;
}

uint64_t LagTracker::lag_exits() const {
  std::lock_guard lock(mutex_);
  return primary_now_.exit_count > backup_exit_count_ ? primary_now_.exit_count - backup_exit_count_
                                                      : 0;
}

LatencySummary LagTracker::lag_summary() const {
  std::lock_guard lock(mutex_);
  return lag_.summary();
}

std::optional<std::chrono::nanoseconds> LagTracker::catch_up_time() const {
  std::lock_guard lock(mutex_);
  if (!caught_up_at_) return std::nullopt;
  return std::chrono::nanoseconds(*caught_up_at_ - backup_start_->first_at);
}

LatencySummary LagTracker::steady_lag_summary() const {
  std::lock_guard lock(mutex_);
  return steady_lag_.summary();
}

// Keeps the primary's current position as a sample once the previous sample is old enough.
// The sample's time is when the position was first reported, not `now`, so a position held
// for a while (a halted guest) is still dated when the primary got there.
void LagTracker::maybe_sample_locked(Clock::time_point now) {
  if (!samples_.empty()) {
    const Sample& last = samples_.back();
    if (primary_now_.exit_count <= last.exit_count) return;
    if (now - last.first_at < kSampleInterval) return;
  }
  if (samples_.size() == kMaxSamples) samples_.pop_front();
  samples_.push_back(primary_now_);
}

// The earliest known time the primary was at `exit_count` or beyond: the first sample there,
// or the current position if no sample is.
LagTracker::Clock::time_point LagTracker::first_reached_locked(uint64_t exit_count) const {
  const auto at = std::lower_bound(
      samples_.begin(), samples_.end(), exit_count,
      [](const Sample& sample, uint64_t count) { return sample.exit_count < count; });
  return at == samples_.end() ? primary_now_.first_at : at->first_at;
}

}  // namespace ftvm::channel
