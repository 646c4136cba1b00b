#include "logging_channel/latency.h"

#include <gtest/gtest.h>

namespace ftvm::channel {
namespace {

using namespace std::chrono_literals;

TEST(LatencyRecorderTest, EmptySummaryIsZero) {
  const LatencySummary summary = LatencyRecorder().summary();
  EXPECT_EQ(summary.count, 0u);
  EXPECT_EQ(summary.max_ms, 0.0);
}

TEST(LatencyRecorderTest, PercentilesByNearestRank) {
  LatencyRecorder recorder;
  for (int ms = 1; ms <= 100; ++ms) recorder.add(std::chrono::milliseconds(ms));
  const LatencySummary summary = recorder.summary();
  EXPECT_EQ(summary.count, 100u);
  EXPECT_DOUBLE_EQ(summary.p50_ms, 50.0);
  EXPECT_DOUBLE_EQ(summary.p99_ms, 99.0);
  EXPECT_DOUBLE_EQ(summary.max_ms, 100.0);
}

TEST(LatencyRecorderTest, OneSample) {
  LatencyRecorder recorder;
  recorder.add(1500us);
  const LatencySummary summary = recorder.summary();
  EXPECT_DOUBLE_EQ(summary.p50_ms, 1.5);
  EXPECT_DOUBLE_EQ(summary.p99_ms, 1.5);
}

TEST(LatencyRecorderTest, KeepsOnlyRecentSamplesButCountsAndMaxAll) {
  LatencyRecorder recorder;
  recorder.add(1s);
  for (size_t i = 0; i < LatencyRecorder::kMaxSamples; ++i) recorder.add(1ms);
  const LatencySummary summary = recorder.summary();
  EXPECT_EQ(summary.count, LatencyRecorder::kMaxSamples + 1);
  EXPECT_DOUBLE_EQ(summary.p99_ms, 1.0) << "the 1 s sample was overwritten";
  EXPECT_DOUBLE_EQ(summary.max_ms, 1000.0);
}

TEST(LatencyRecorderTest, NegativeSamplesCountAsZero) {
  LatencyRecorder recorder;
  recorder.add(-5ms);
  EXPECT_EQ(recorder.summary().max_ms, 0.0);
}

}  // namespace
}  // namespace ftvm::channel
