// Bounded latency statistics: the output gate's hold times and the backup's lag.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ftvm::channel {

struct LatencySummary {
  uint64_t count = 0;  // samples ever added
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
};

// Keeps the most recent samples only, so a long run uses bounded memory: percentiles describe
// the last kMaxSamples samples, count and max the whole run. Thread-compatible: callers that
// share one lock it themselves.
class LatencyRecorder {
 public:
  static constexpr size_t kMaxSamples = 65536;

  void add(std::chrono::nanoseconds sample);
  LatencySummary summary() const;

 private:
  std::vector<int64_t> samples_ns_;  // a ring once full; next_ is the oldest
  size_t next_ = 0;
  uint64_t count_ = 0;
  int64_t max_ns_ = 0;
};

}  // namespace ftvm::channel
