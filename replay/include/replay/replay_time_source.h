// The TimeSource of a replaying VM: hands device models the clock values the recording logged,
// in order, and notes a divergence if a read happens at another exit than in the recording.
//
// A backup that goes live keeps the same source: reads the log still covers are replayed, and
// once they run out the values come from the host, shifted so that the guest's clocks never
// step back (the backup's host clock may lag the primary's).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "replay/entry_sink.h"
#include "replay/trace_entry.h"
#include "vmm/devices/time_source.h"

namespace ftvm::replay {

class ReplayTimeSource final : public TimeSource {
 public:
  explicit ReplayTimeSource(std::vector<ClockReadEntry> reads = {})
      : reads_(reads.begin(), reads.end()) {}
  void set_exit_count(std::function<uint64_t()> exit_count) { exit_count_ = std::move(exit_count); }

  // Reads that arrived later (a log streamed over the logging channel).
  void append(const ClockReadEntry& read) { reads_.push_back(read); }
  // No more reads will be logged: once those held are used up, read `live` instead.
  void go_live(TimeSource& live) { live_ = &live; }
  // Once live, every value handed out is logged to `sink` too, with its exit, as a
  // RecordingTimeSource does: a backup that went live records for the backups that join it.
  void record_live_reads(EntrySink& sink) { record_ = &sink; }
  // A replay that starts part-way through (a backup joining a running guest): the guest has
  // seen these values already (RecordingTimeSource::last_value); live values never go below.
  void continue_after(int64_t monotonic_ns, int64_t realtime_ns) {
    last_value_[static_cast<int>(ClockKind::kMonotonic)] = monotonic_ns;
    last_value_[static_cast<int>(ClockKind::kRealtime)] = realtime_ns;
  }

  // The latest value handed out of `clock` (0: none yet); for a joiner, as
  // RecordingTimeSource::last_value.
  int64_t last_value(ClockKind clock) const { return last_value_[static_cast<int>(clock)]; }
  // Set when a live read could not be logged.
  bool record_failed() const { return record_failed_; }

  uint64_t monotonic_ns() override;
  int64_t realtime_ns() override;

  // Set at the first read that does not match the recording.
  const std::optional<std::string>& divergence() const { return divergence_; }
  size_t consumed() const { return consumed_; }
  size_t pending() const { return reads_.size(); }

 private:
  int64_t next_value(ClockKind clock);
  int64_t live_value(ClockKind clock);

  std::deque<ClockReadEntry> reads_;
  size_t consumed_ = 0;
  std::function<uint64_t()> exit_count_;
  std::optional<std::string> divergence_;
  TimeSource* live_ = nullptr;
  EntrySink* record_ = nullptr;
  bool record_failed_ = false;
  // By ClockKind: the last value handed out, and the shift applied to live values.
  int64_t last_value_[2] = {0, 0};
  std::optional<int64_t> live_shift_[2];
};

}  // namespace ftvm::replay
