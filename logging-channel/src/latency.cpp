#include "logging_channel/latency.h"

#include <algorithm>

namespace ftvm::channel {
namespace {

double to_ms(int64_t ns) {
  return static_cast<double>(ns) / 1e6;
}

// Nearest rank: the smallest sample with at least `fraction` of the samples at or below it.
int64_t percentile(const std::vector<int64_t>& sorted, double fraction) {
  const auto rank = static_cast<size_t>(fraction * static_cast<double>(sorted.size()) + 0.999999);
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

}  // namespace

void LatencyRecorder::add(std::chrono::nanoseconds sample) {
  const int64_t ns = std::max<int64_t>(sample.count(), 0);
  if (samples_ns_.size() < kMaxSamples) {
    samples_ns_.push_back(ns);
  } else {
    samples_ns_[next_] = ns;
    next_ = (next_ + 1) % kMaxSamples;
  }
  ++count_;
  max_ns_ = std::max(max_ns_, ns);
}

LatencySummary LatencyRecorder::summary() const {
  LatencySummary summary;
  summary.count = count_;
  if (samples_ns_.empty()) return summary;
  std::vector<int64_t> sorted = samples_ns_;
  std::sort(sorted.begin(), sorted.end());
  summary.p50_ms = to_ms(percentile(sorted, 0.50));
  summary.p99_ms = to_ms(percentile(sorted, 0.99));
  summary.max_ms = to_ms(max_ns_);
  return summary;
}

}  // namespace ftvm::channel
