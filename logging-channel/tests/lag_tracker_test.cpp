#include "logging_channel/lag_tracker.h"

#include <gtest/gtest.h>

namespace ftvm::channel {
namespace {

using namespace std::chrono_literals;
using Clock = LagTracker::Clock;

const Clock::time_point t0 = Clock::time_point() + 1h;

TEST(LagTrackerTest, NoLagBeforeAnything) {
  LagTracker lag;
  EXPECT_EQ(lag.lag_time(), 0ns);
  EXPECT_EQ(lag.lag_exits(), 0u);
  EXPECT_EQ(lag.lag_summary().count, 0u);
}

TEST(LagTrackerTest, LagIsTimeSinceThePrimaryLeftTheBackupsExit) {
  LagTracker lag;
  lag.primary_at(100, t0);
  lag.primary_at(200, t0 + 1ms);
  lag.primary_at(300, t0 + 2ms);
  lag.backup_at(200, t0 + 5ms);  // the primary was past 200 (at 300) from t0 + 2ms
  EXPECT_EQ(lag.lag_time(), 3ms);
  EXPECT_EQ(lag.lag_exits(), 100u);
}

TEST(LagTrackerTest, BetweenSamplesTheNextSampleIsUsed) {
  LagTracker lag;
  lag.primary_at(100, t0);
  lag.primary_at(200, t0 + 1ms);
  lag.backup_at(150, t0 + 3ms);  // the primary passed 150 at some point up to t0+1ms
  EXPECT_EQ(lag.lag_time(), 2ms);
  EXPECT_EQ(lag.lag_exits(), 50u);
}

TEST(LagTrackerTest, ALevelBackupHasNoLag) {
  LagTracker lag;
  lag.primary_at(100, t0);
  lag.backup_at(100, t0 + 9ms);
  EXPECT_EQ(lag.lag_time(), 0ns);
  EXPECT_EQ(lag.lag_exits(), 0u);
  lag.backup_at(120, t0 + 9ms);  // acks can overtake the primary's report
  EXPECT_EQ(lag.lag_time(), 0ns);
  EXPECT_EQ(lag.lag_exits(), 0u);
}

// The start (the backup replays the guest's first stretch only once the primary finished it)
// is kept apart from the lag while the backup follows.
TEST(LagTrackerTest, TheSteadyLagStartsOnceTheBackupCaughtUp) {
  LagTracker lag;
  lag.primary_at(0, t0);
  lag.backup_at(0, t0 + 1ms);  // both at the start: level, but it has not replayed anything
  EXPECT_FALSE(lag.catch_up_time());
  lag.primary_at(100, t0 + 80ms);
  lag.backup_at(0, t0 + 150ms);  // 70 ms behind
  EXPECT_FALSE(lag.catch_up_time());
  lag.backup_at(100, t0 + 160ms);
  ASSERT_TRUE(lag.catch_up_time());
  EXPECT_EQ(*lag.catch_up_time(), 159ms);
  lag.primary_at(110, t0 + 170ms);
  lag.backup_at(105, t0 + 172ms);  // 2 ms behind
  EXPECT_EQ(lag.lag_summary().count, 4u);
  EXPECT_EQ(lag.lag_summary().max_ms, 70.0);
  EXPECT_EQ(lag.steady_lag_summary().count, 2u);
  EXPECT_EQ(lag.steady_lag_summary().max_ms, 2.0);
}

TEST(LagTrackerTest, ABackupThatJoinedLevelCatchesUpAtItsFirstStep) {
  LagTracker lag;
  lag.primary_at(5000, t0);
  lag.backup_at(5000, t0 + 1ms);  // joined: it starts where the primary stopped for the copy
  lag.primary_at(5001, t0 + 2ms);
  lag.backup_at(5001, t0 + 3ms);
  ASSERT_TRUE(lag.catch_up_time());
  EXPECT_EQ(*lag.catch_up_time(), 2ms);
  EXPECT_EQ(lag.steady_lag_summary().count, 1u);
}

TEST(LagTrackerTest, SamplesAreSparse) {
  LagTracker lag;
  lag.primary_at(10, t0);
  lag.primary_at(11, t0 + 100us);  // too soon after the sample at 10: not kept...
  lag.primary_at(12, t0 + 300us);  // ...so 11 reads as reached when 12 was
  lag.backup_at(11, t0 + 1ms);
  EXPECT_EQ(lag.lag_time(), 700us);
}

TEST(LagTrackerTest, AHaltedPrimaryIsOnlyAheadSinceItLeft) {
  LagTracker lag;
  lag.primary_at(10, t0);
  lag.primary_at(11, t0 + 100us);
  lag.primary_at(11, t0 + 500us);  // still at 11 (halted): sampled now, dated t0+100us
  lag.primary_at(12, t0 + 600us);
  lag.backup_at(11, t0 + 1ms);  // waiting where the primary sat until t0 + 600us
  EXPECT_EQ(lag.lag_time(), 400us);
}

TEST(LagTrackerTest, TheCurrentPositionCountsBeforeItIsSampled) {
  LagTracker lag;
  lag.primary_at(10, t0);
  lag.primary_at(20, t0 + 10us);  // not sampled yet
  lag.backup_at(15, t0 + 1ms);
  EXPECT_EQ(lag.lag_time(), 990us);
}

TEST(LagTrackerTest, BackupOlderThanEverySampleGetsALowerBound) {
  LagTracker lag;
  for (uint64_t i = 0; i < LagTracker::kMaxSamples + 100; ++i) {
    lag.primary_at(1000 + i, t0 + std::chrono::milliseconds(i));
  }
  lag.backup_at(0, t0 + 10s);
  // The oldest kept sample is at exit 1100, reached at t0 + 100 ms.
  EXPECT_EQ(lag.lag_time(), 10s - 100ms);
  EXPECT_EQ(lag.lag_exits(), 1000 + LagTracker::kMaxSamples + 99);
}

TEST(LagTrackerTest, SummaryCountsAcks) {
  LagTracker lag;
  lag.primary_at(100, t0);
  lag.primary_at(200, t0 + 1ms);
  lag.backup_at(100, t0 + 2ms);
  lag.backup_at(200, t0 + 3ms);
  lag.backup_at(200, t0 + 4ms);
  const LatencySummary summary = lag.lag_summary();
  EXPECT_EQ(summary.count, 3u);
  EXPECT_DOUBLE_EQ(summary.max_ms, 1.0);  // the first ack; the others were level
}

}  // namespace
}  // namespace ftvm::channel
