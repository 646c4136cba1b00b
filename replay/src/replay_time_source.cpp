#include "replay/replay_time_source.h"

#include <fmt/format.h>

#include <algorithm>

namespace ftvm::replay {
namespace {
const char* clock_name(ClockKind clock) {
  return clock == ClockKind::kMonotonic ? "monotonic" : "realtime";
}
}  // namespace

int64_t ReplayTimeSource::live_value(ClockKind clock) {
  const int index = static_cast<int>(clock);
  const int64_t host = clock == ClockKind::kMonotonic ? static_cast<int64_t>(live_->monotonic_ns())
                                                      : live_->realtime_ns();
  if (!live_shift_[index]) live_shift_[index] = std::max<int64_t>(0, last_value_[index] - host);
  const int64_t value = host + *live_shift_[index];
  if (record_ != nullptr &&
      !record_->append(ClockReadEntry{exit_count_ ? exit_count_() : 0, clock, value})) {
    record_failed_ = true;
  }
  return value;
}

int64_t ReplayTimeSource::next_value(ClockKind clock) {
  const int index = static_cast<int>(clock);
  const uint64_t exit_count = exit_count_ ? exit_count_() : 0;
  if (reads_.empty()) {
    if (live_ != nullptr) return last_value_[index] = live_value(clock);
    if (!divergence_) {
      divergence_ = fmt::format(
          "a device read the {} clock at exit {}, but the recording has no more clock reads",
          clock_name(clock), exit_count);
    }
    return 0;
  }
  const ClockReadEntry read = reads_.front();
  reads_.pop_front();
  ++consumed_;
  if ((read.clock != clock || read.exit_count != exit_count) && !divergence_) {
    divergence_ = fmt::format(
        "a device read the {} clock at exit {}, but the recording's next clock read is of the "
        "{} clock at exit {}",
        clock_name(clock), exit_count, clock_name(read.clock), read.exit_count);
  }
  return last_value_[index] = read.value;
}

uint64_t ReplayTimeSource::monotonic_ns() {
  return static_cast<uint64_t>(next_value(ClockKind::kMonotonic));
}

int64_t ReplayTimeSource::realtime_ns() {
  return next_value(ClockKind::kRealtime);
}

}  // namespace ftvm::replay
