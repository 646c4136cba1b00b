#include "pair/precopy_policy.h"

#include <gtest/gtest.h>

namespace ftvm {
namespace {

using std::chrono::milliseconds;

PrecopyRound round_of(uint32_t round, uint64_t sent, milliseconds took, uint64_t dirtied) {
  return {round, sent, took, dirtied};
}

TEST(PrecopyPolicyTest, StopsWhenTheDirtyPagesFitTheTargetPause) {
  PrecopyOptions options;
  options.target_pause = milliseconds(20);
  // 10,000 pages in 100 ms: 10 us a page, so 2,000 pages take 20 ms and 2,001 more.
  auto fits = decide_precopy(options, round_of(3, 10'000, milliseconds(100), 2'000), 0);
  EXPECT_TRUE(fits.stop_and_copy);
  auto too_many = decide_precopy(options, round_of(3, 10'000, milliseconds(100), 2'001), 0);
  EXPECT_FALSE(too_many.stop_and_copy);
}

TEST(PrecopyPolicyTest, AFewPagesAreAlwaysSentStopped) {
  PrecopyOptions options;
  options.stop_copy_pages = 64;
  // A round that sent nothing measured no rate: only the page count can stop it.
  EXPECT_TRUE(decide_precopy(options, round_of(1, 0, milliseconds(0), 64), 0).stop_and_copy);
  EXPECT_FALSE(decide_precopy(options, round_of(1, 0, milliseconds(0), 65), 0).stop_and_copy);
}

TEST(PrecopyPolicyTest, ARoundThatDoesNotShrinkThrottlesTheGuestStepByStep) {
  PrecopyOptions options;
  options.target_pause = milliseconds(1);
  // 1,000 pages sent in 100 ms, 900 found dirty again: not converging.
  const auto slow = round_of(2, 1'000, milliseconds(100), 900);
  auto first = decide_precopy(options, slow, 0);
  EXPECT_FALSE(first.stop_and_copy);
  EXPECT_DOUBLE_EQ(first.throttle, options.throttle_step);
  auto second = decide_precopy(options, slow, first.throttle);
  EXPECT_DOUBLE_EQ(second.throttle, 2 * options.throttle_step);
  auto capped = decide_precopy(options, slow, options.max_throttle);
  EXPECT_DOUBLE_EQ(capped.throttle, options.max_throttle);
  // Shrinking to the converging ratio keeps the throttle where it is.
  auto shrinking = decide_precopy(options, round_of(2, 1'000, milliseconds(100), 800), 0.4);
  EXPECT_FALSE(shrinking.stop_and_copy);
  EXPECT_DOUBLE_EQ(shrinking.throttle, 0.4);
}

TEST(PrecopyPolicyTest, TheLastRoundStopsWhateverIsLeft) {
  PrecopyOptions options;
  options.max_rounds = 5;
  const auto never_converging = round_of(4, 1'000, milliseconds(100), 1'000);
  EXPECT_TRUE(decide_precopy(options, never_converging, 0.95).stop_and_copy);
  EXPECT_FALSE(
      decide_precopy(options, round_of(3, 1'000, milliseconds(100), 1'000), 0.95).stop_and_copy);
}

}  // namespace
}  // namespace ftvm
