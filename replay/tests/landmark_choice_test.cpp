#include "replay/landmark_choice.h"

#include <gtest/gtest.h>

namespace ftvm::replay {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

constexpr ReplayCosts kCosts{80.0, 300.0};  // break-even at 3.75 hits

ProbeObservation probe(microseconds since_exit, microseconds period, bool same = false) {
  return {since_exit, period, same};
}

TEST(ChooseLandmark, HotLoopGetsACheckpoint) {
  // RIP came round after 2 us, 1.2 ms after the exit: a search would step through ~600 hits.
  const auto choice = choose_landmark(probe(microseconds(1200), microseconds(2)), kCosts);
  EXPECT_EQ(choice.kind, LandmarkKind::kCheckpoint);
  EXPECT_DOUBLE_EQ(choice.estimated_hits, 600.0);
  EXPECT_DOUBLE_EQ(choice.breakpoint_cost_us, 600.0 * 80.0);
  EXPECT_DOUBLE_EQ(choice.checkpoint_cost_us, 300.0);
}

TEST(ChooseLandmark, ColdPointGetsABreakpoint) {
  // RIP came round after 800 us, 1.2 ms after the exit: about 1.5 hits.
  const auto choice = choose_landmark(probe(microseconds(1200), microseconds(800)), kCosts);
  EXPECT_EQ(choice.kind, LandmarkKind::kBreakpoint);
  EXPECT_DOUBLE_EQ(choice.estimated_hits, 1.5);
}

TEST(ChooseLandmark, BreakEvenGoesToTheCheckpoint) {
  // 3.75 hits * 80 us = 300 us: not cheaper, so the exact-by-construction checkpoint wins.
  const auto choice = choose_landmark(probe(microseconds(3750), microseconds(1000)), kCosts);
  EXPECT_DOUBLE_EQ(choice.estimated_hits, 3.75);
  EXPECT_EQ(choice.kind, LandmarkKind::kCheckpoint);
  const auto just_below = choose_landmark(probe(microseconds(3700), microseconds(1000)), kCosts);
  EXPECT_EQ(just_below.kind, LandmarkKind::kBreakpoint);
}

TEST(ChooseLandmark, SameFingerprintAtBothExecutionsNeedsACheckpoint) {
  // Cheap to search, but the fingerprint cannot tell the executions apart.
  const auto choice =
      choose_landmark(probe(microseconds(1200), microseconds(800), /*same=*/true), kCosts);
  EXPECT_EQ(choice.kind, LandmarkKind::kCheckpoint);
}

TEST(ChooseLandmark, CostsDecide) {
  const auto observation = probe(milliseconds(2), microseconds(400));  // 5 hits
  EXPECT_EQ(choose_landmark(observation, kCosts).kind, LandmarkKind::kCheckpoint);
  // A backup whose checkpoints are slow (big dirty sets) makes the search worth it.
  EXPECT_EQ(choose_landmark(observation, {80.0, 1000.0}).kind, LandmarkKind::kBreakpoint);
  // One whose hits are slow makes it a checkpoint again.
  EXPECT_EQ(choose_landmark(observation, {250.0, 1000.0}).kind, LandmarkKind::kCheckpoint);
}

// --async breakpoint: a breakpoint wherever the replay can find it, however a checkpoint
// would compare.
TEST(ChooseForcedBreakpoint, AHotButReachableLoopStillGetsABreakpoint) {
  // 600 hits: auto would checkpoint (above), forced stays a breakpoint (48 ms of search).
  const auto choice =
      choose_forced_breakpoint(probe(microseconds(1200), microseconds(2)), kCosts, SearchLimits{});
  EXPECT_EQ(choice.kind, LandmarkKind::kBreakpoint);
  EXPECT_DOUBLE_EQ(choice.estimated_hits, 600.0);
}

TEST(ChooseForcedBreakpoint, BeyondHalfTheHitLimitFallsBack) {
  const SearchLimits limits{1000, std::chrono::seconds(1000)};
  // 500 hits: at half the limit, still placed.
  EXPECT_EQ(
      choose_forced_breakpoint(probe(microseconds(1000), microseconds(2)), kCosts, limits).kind,
      LandmarkKind::kBreakpoint);
  // 501 hits: past it.
  EXPECT_EQ(
      choose_forced_breakpoint(probe(microseconds(1002), microseconds(2)), kCosts, limits).kind,
      LandmarkKind::kCheckpoint);
}

TEST(ChooseForcedBreakpoint, BeyondHalfTheTimeLimitFallsBack) {
  // 5 ms since the exit, RIP round every 1 us: 5000 hits, 400 ms at 80 us a hit.
  const auto observation = probe(milliseconds(5), microseconds(1));
  EXPECT_EQ(choose_forced_breakpoint(observation, kCosts, {200'000, milliseconds(800)}).kind,
            LandmarkKind::kBreakpoint);
  EXPECT_EQ(choose_forced_breakpoint(observation, kCosts, {200'000, milliseconds(799)}).kind,
            LandmarkKind::kCheckpoint);
  // A backup that reports slower hits (a nested KVM) moves the same point out of reach.
  EXPECT_EQ(
      choose_forced_breakpoint(observation, {500.0, 300.0}, {200'000, milliseconds(800)}).kind,
      LandmarkKind::kCheckpoint);
}

TEST(ChooseForcedBreakpoint, RepeatingRegistersFallBack) {
  // Cold and cheap, but no search can tell the executions apart.
  const auto choice = choose_forced_breakpoint(
      probe(microseconds(1200), microseconds(800), /*same=*/true), kCosts, SearchLimits{});
  EXPECT_EQ(choice.kind, LandmarkKind::kCheckpoint);
}

TEST(ChooseLandmark, DegenerateTimesStayFinite) {
  // A zero period (RIP came round within the clock's resolution) is as hot as it gets.
  const auto zero_period = choose_landmark(probe(microseconds(100), microseconds(0)), kCosts);
  EXPECT_EQ(zero_period.kind, LandmarkKind::kCheckpoint);
  EXPECT_GT(zero_period.estimated_hits, 1000.0);
  // Nothing since the exit still means the one hit the landmark is on.
  const auto no_time = choose_landmark(probe(microseconds(0), microseconds(50)), kCosts);
  EXPECT_DOUBLE_EQ(no_time.estimated_hits, 1.0);
  EXPECT_EQ(no_time.kind, LandmarkKind::kBreakpoint);
}

TEST(ReplayCostModel, StartsFromDefaultsAndTakesReports) {
  ReplayCostModel model;
  EXPECT_FALSE(model.reported());
  EXPECT_DOUBLE_EQ(model.current().breakpoint_hit_us, kDefaultReplayCosts.breakpoint_hit_us);
  EXPECT_DOUBLE_EQ(model.current().checkpoint_load_us, kDefaultReplayCosts.checkpoint_load_us);
  model.report({0.0, 150.0});  // no breakpoint measured yet: the hit cost stays
  EXPECT_TRUE(model.reported());
  EXPECT_DOUBLE_EQ(model.current().breakpoint_hit_us, kDefaultReplayCosts.breakpoint_hit_us);
  EXPECT_DOUBLE_EQ(model.current().checkpoint_load_us, 150.0);
  model.report({42.0, 0.0});
  EXPECT_DOUBLE_EQ(model.current().breakpoint_hit_us, 42.0);
  EXPECT_DOUBLE_EQ(model.current().checkpoint_load_us, 150.0);
}

TEST(ReplayCostModel, AnEmptyReportIsNotAReport) {
  ReplayCostModel model;
  model.report({0.0, 0.0});
  EXPECT_FALSE(model.reported());
}

TEST(ProbeBudget, FollowsMaxDelayWithinBounds) {
  EXPECT_EQ(probe_budget_for(milliseconds(1)), milliseconds(1));
  EXPECT_EQ(probe_budget_for(milliseconds(0)), microseconds(500));
  EXPECT_EQ(probe_budget_for(milliseconds(50)), milliseconds(5));
}

TEST(ProbeCanPayOff, OnlyWhenABreakpointVerdictFitsTheBudget) {
  // Break-even 3.75 hits: RIP must take longer than since_exit / 2.75 to come round.
  EXPECT_TRUE(probe_can_pay_off(microseconds(2000), milliseconds(1), kCosts));
  EXPECT_FALSE(probe_can_pay_off(microseconds(2800), milliseconds(1), kCosts));
  EXPECT_FALSE(probe_can_pay_off(milliseconds(10), milliseconds(1), kCosts));
  // Consistent with the verdict: a period just past the bound gives a breakpoint.
  const auto since = microseconds(2000);
  const auto period = microseconds(2000 * 100 / 275 + 10);
  EXPECT_EQ(choose_landmark(probe(since + period, period), kCosts).kind, LandmarkKind::kBreakpoint);
  // Checkpoints no dearer than one hit: a search can never win.
  EXPECT_FALSE(probe_can_pay_off(microseconds(0), milliseconds(5), {80.0, 80.0}));
}

}  // namespace
}  // namespace ftvm::replay
