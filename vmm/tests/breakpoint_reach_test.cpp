// What the host probe's measurement makes of --async auto and the hints, for the hosts met so
// far: kvm_pvm (breakpoints only in guest kernel code), a host where they fire at every CPL,
// nested kvm_amd under Debian 12's QEMU (none), and a host whose probe failed.
#include "vmm/breakpoint_reach.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ftvm {
namespace {

using ::testing::HasSubstr;

GuestDebugFacts measured(bool cpl0, bool cpl3) {
  GuestDebugFacts facts;
  facts.breakpoint_cpl0 = facts.single_step_cpl0 = cpl0;
  facts.breakpoint_cpl3 = facts.single_step_cpl3 = cpl3;
  facts.cpl0_instructions_per_second = 1e6;
  facts.cpl3_instructions_per_second = 1e9;
  return facts;
}

TEST(BreakpointReachTest, KvmPvmReachesKernelCodeOnly) {
  const auto reach = breakpoint_reach(Accel::kKvm, measured(true, false));
  EXPECT_EQ(reach, (BreakpointReach{true, false, true}));
  const std::string hint = describe_breakpoint_reach(reach);
  EXPECT_THAT(hint, HasSubstr("kernel code (CPL0): yes; user code (CPL3): no."));
  EXPECT_THAT(hint, HasSubstr("places at CPL0 a breakpoint where its probe finds the search "
                              "cheap, else a checkpoint; at CPL3 a checkpoint"));
}

TEST(BreakpointReachTest, AHostWithBreakpointsAtEveryLevelReachesBoth) {
  const auto reach = breakpoint_reach(Accel::kKvm, measured(true, true));
  EXPECT_EQ(reach, (BreakpointReach{true, true, true}));
  EXPECT_THAT(describe_breakpoint_reach(reach),
              HasSubstr("at CPL3 a breakpoint where its probe finds the search cheap"));
}

TEST(BreakpointReachTest, AHostThatReportsNoBreakpointsReachesNothing) {
  const auto reach = breakpoint_reach(Accel::kKvm, measured(false, false));
  EXPECT_EQ(reach, (BreakpointReach{false, false, true}));
  EXPECT_THAT(describe_breakpoint_reach(reach),
              HasSubstr("places at CPL0 a checkpoint; at CPL3 a checkpoint"));
}

TEST(BreakpointReachTest, AFailedProbeKeepsTheKernelAssumptionAndSaysSo) {
  const auto reach = breakpoint_reach(Accel::kKvm, std::nullopt);
  EXPECT_EQ(reach, (BreakpointReach{true, false, false}));
  EXPECT_THAT(describe_breakpoint_reach(reach), HasSubstr("not measured: the host probe failed"));
}

TEST(BreakpointReachTest, TheSoftwareCpuEmulatesThemEverywhereWhateverKvmSays) {
  EXPECT_EQ(breakpoint_reach(Accel::kEmu, measured(false, false)),
            (BreakpointReach{true, true, true}));
  EXPECT_EQ(breakpoint_reach(Accel::kEmu, std::nullopt), (BreakpointReach{true, true, true}));
}

TEST(ResumeFlagReachTest, FollowsWhatTheProbeSawAtEachLevel) {
  GuestDebugFacts facts = measured(true, true);
  facts.resume_flag_cpl0 = true;
  facts.resume_flag_cpl3 = false;
  EXPECT_EQ(resume_flag_reach(Accel::kKvm, facts), (BreakpointReach{true, false, true}));
}

TEST(ResumeFlagReachTest, NeedsTheBreakpointToo) {
  // A host where breakpoints are not reported cannot have shown RF at work.
  GuestDebugFacts facts = measured(false, false);
  facts.resume_flag_cpl0 = facts.resume_flag_cpl3 = true;
  EXPECT_EQ(resume_flag_reach(Accel::kKvm, facts), (BreakpointReach{false, false, true}));
}

TEST(ResumeFlagReachTest, AFailedProbeMeansSingleStepsAndTheSoftwareCpuResumesEverywhere) {
  EXPECT_EQ(resume_flag_reach(Accel::kKvm, std::nullopt), (BreakpointReach{false, false, false}));
  EXPECT_EQ(resume_flag_reach(Accel::kEmu, std::nullopt), (BreakpointReach{true, true, true}));
}

// kvm_pvm: a CPL0 loop of two instructions at 1M instructions/s comes round in 2 us, which a
// probe's host-time stretch around an exit of its own cannot resolve (seen there: every probe
// timed a period of zero, so --async breakpoint estimated 500,000 hits and fell back to a
// checkpoint every time).
TEST(ShortestLoopTest, IsTwoInstructionsAtTheMeasuredSpeedOfEachLevel) {
  const auto loop = shortest_loop(Accel::kKvm, measured(true, false));
  EXPECT_EQ(loop.cpl0, std::chrono::microseconds(2));
  EXPECT_EQ(loop.cpl3, std::chrono::nanoseconds(2));
}

TEST(ShortestLoopTest, IsZeroWhereNothingWasMeasured) {
  GuestDebugFacts unmeasured;
  EXPECT_EQ(shortest_loop(Accel::kKvm, unmeasured).cpl0, std::chrono::nanoseconds(0));
  EXPECT_EQ(shortest_loop(Accel::kKvm, std::nullopt).cpl3, std::chrono::nanoseconds(0));
  EXPECT_EQ(shortest_loop(Accel::kEmu, measured(true, true)).cpl0, std::chrono::nanoseconds(0));
}

}  // namespace
}  // namespace ftvm
