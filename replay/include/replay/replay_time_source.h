// The TimeSource of a replaying VM: hands device models the clock values the recording logged,
// in order, and notes a divergence if a read happens at another exit than in the recording.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "replay/trace_entry.h"
#include "vmm/devices/time_source.h"

namespace ftvm::replay {

class ReplayTimeSource final : public TimeSource {
 public:
  explicit ReplayTimeSource(std::vector<ClockReadEntry> reads) : reads_(std::move(reads)) {}
  void set_exit_count(std::function<uint64_t()> exit_count) { exit_count_ = std::move(exit_count); }

  uint64_t monotonic_ns() override;
  int64_t realtime_ns() override;

  // Set at the first read that does not match the recording.
  const std::optional<std::string>& divergence() const { return divergence_; }
  size_t consumed() const { return next_; }
  size_t total() const { return reads_.size(); }

 private:
  int64_t next_value(ClockKind clock);
  std::vector<ClockReadEntry> reads_;
  size_t next_ = 0;
  std::function<uint64_t()> exit_count_;
  std::optional<std::string> divergence_;
};

}  // namespace ftvm::replay
