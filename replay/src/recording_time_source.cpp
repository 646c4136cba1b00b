#include "replay/recording_time_source.h"

namespace ftvm::replay {

void RecordingTimeSource::log(ClockKind clock, int64_t value) {
  const uint64_t exit_count = exit_count_ ? exit_count_() : 0;
  last_value_[static_cast<int>(clock)] = value;
  if (!sink_.append(ClockReadEntry{exit_count, clock, value})) failed_ = true;
}

uint64_t RecordingTimeSource::monotonic_ns() {
  const uint64_t value = host_.monotonic_ns();
  log(ClockKind::kMonotonic, static_cast<int64_t>(value));
  return value;
}

int64_t RecordingTimeSource::realtime_ns() {
  const int64_t value = host_.realtime_ns();
  log(ClockKind::kRealtime, value);
  return value;
}

}  // namespace ftvm::replay
