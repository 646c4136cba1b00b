// The TimeSource of a recording VM: hands out host time and logs every value with the exit it
// was read in, so the replayer can hand the same values back.
#pragma once

#include <functional>

#include "replay/entry_sink.h"
#include "vmm/devices/time_source.h"

namespace ftvm::replay {

class RecordingTimeSource final : public TimeSource {
 public:
  RecordingTimeSource(TimeSource& host, EntrySink& sink) : host_(host), sink_(sink) {}
  // Where reads happen; set once the vCPU runner exists (reads before that are at E=0).
  void set_exit_count(std::function<uint64_t()> exit_count) { exit_count_ = std::move(exit_count); }

  uint64_t monotonic_ns() override;
  int64_t realtime_ns() override;
  bool failed() const { return failed_; }
  // The latest value handed out of `clock` (0: none yet). A backup that joins the running guest
  // starts its clocks after these (ReplayTimeSource::continue_after), so that its guest's time
  // never steps back once it goes live.
  int64_t last_value(ClockKind clock) const { return last_value_[static_cast<int>(clock)]; }

 private:
  void log(ClockKind clock, int64_t value);
  TimeSource& host_;
  EntrySink& sink_;
  std::function<uint64_t()> exit_count_;
  bool failed_ = false;
  int64_t last_value_[2] = {0, 0};
};

}  // namespace ftvm::replay
