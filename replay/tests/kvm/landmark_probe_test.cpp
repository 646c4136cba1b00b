// --async auto's probe (replay/landmark_choice.h) on real guests: how soon RIP comes round,
// what that predicts a breakpoint search would cost, and what the costs a backup reports make
// of it. cold_loop is built so that a stop point right after its exit is one or two
// executions of RIP away from it, later ones up to nine; reg_loop's RIP comes round after
// two instructions.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <iostream>

#include "kvm_gate.h"
#include "record_replay_harness.h"

namespace ftvm::replay::testing {
namespace {

// cold_loop's inner loop runs 8 times between two exits (or 100 us worth, cold_loop.S): a
// search steps over at most that many executions of RIP and stops at the next.
uint64_t cold_loop_max_hits() {
  return std::max<uint64_t>(8, instructions_per_100us(Accel::kKvm) / 49) + 1;
}

RecordSetup auto_setup(const char* guest, ReplayCosts costs) {
  RecordSetup setup;
  setup.guest = guest;
  setup.async_mode = AsyncMode::kAuto;
  setup.max_delay = std::chrono::milliseconds(0);  // every tick an asynchronous landmark
  setup.replay_costs = costs;
  return setup;
}

struct Run {
  Recording recording;
  Replay replay;
};

// Every test here is about asynchronous landmarks: it needs at least one.
Result<Run> record_and_replay(const RecordSetup& setup) {
  auto recording = record_guest_with_asynchronous_landmark(setup);
  if (!recording) return recording.error();
  auto replay = replay_recording(*recording, recording->entries);
  if (!replay) return replay.error();
  std::cout << "[ figures  ] " << setup.guest << " with costs "
            << setup.replay_costs.breakpoint_hit_us << "/" << setup.replay_costs.checkpoint_load_us
            << " us: " << summary(*recording, *replay) << "\n";
  return Run{std::move(*recording), std::move(*replay)};
}

void expect_exact(const Run& run) {
  EXPECT_EQ(run.recording.result.reason, RunResult::Reason::kGuestShutdown)
      << run.recording.result.detail;
  EXPECT_TRUE(exact(run.recording, run.replay))
      << reason_name(run.replay.result.reason) << ": " << report_head(run.replay.result.detail, 12);
}

TEST(LandmarkProbeTest, CheapSearchesGetBreakpointsThatAreFoundInFewHits) {
  FTVM_REQUIRE_GUEST_BREAKPOINTS();
  // Checkpoints made very dear: every probe whose RIP came round with other registers ends in
  // a breakpoint landmark.
  // (So dear that even a probe whose come-round was too quick to time, estimated at one hit
  // per nanosecond since the exit, stays cheaper.)
  auto run = record_and_replay(auto_setup("cold_loop.elf", {0.001, 1e9}));
  ASSERT_TRUE(run.ok()) << run.error().message;
  expect_exact(*run);
  const auto& l = run->recording.landmarks;
  EXPECT_GT(l.probes, 0u);
  EXPECT_GT(l.probe_breakpoint, 0u) << "no probe saw RIP come round";
  EXPECT_EQ(l.probe_checkpoint, l.probe_same_fingerprint);
  // (A verdict turns into a checkpoint where an injected interrupt is still queued.)
  EXPECT_LE(l.breakpoint, l.probe_breakpoint);
  // Stepping through the inner loop, never past an exit.
  EXPECT_LE(run->replay.stats.max_hits, cold_loop_max_hits());
  // (Two landmarks at the same registers share one search.)
  EXPECT_LE(run->replay.stats.breakpoint, l.breakpoint);
  EXPECT_GT(run->replay.stats.breakpoint, 0u);
}

TEST(LandmarkProbeTest, DearSearchesAreNotEvenProbed) {
  FTVM_REQUIRE_KVM();
  // Breakpoint hits far dearer than a checkpoint: no stop point can be cold enough, so the
  // recorder checkpoints at once instead of making the input wait for a probe.
  auto run = record_and_replay(auto_setup("cold_loop.elf", {1e6, 1.0}));
  ASSERT_TRUE(run.ok()) << run.error().message;
  expect_exact(*run);
  const auto& l = run->recording.landmarks;
  EXPECT_EQ(l.probes, 0u);
  EXPECT_EQ(l.breakpoint, 0u);
  EXPECT_GT(l.checkpoint, 0u);
}

TEST(LandmarkProbeTest, ATightLoopIsHot) {
  FTVM_REQUIRE_GUEST_BREAKPOINTS();
  // reg_loop's RIP comes round two instructions later: even with a generous break-even (100
  // hits), the probe must see that thousands of executions lie between the exit and the
  // point, and checkpoint. Timed naively, the debug exit's own ~20 us would make it look cold:
  // the probe takes its entry and exit off, and a come-round within the timing's resolution
  // counts as hottest.
  auto run = record_and_replay(auto_setup("reg_loop.elf", {10.0, 1000.0}));
  ASSERT_TRUE(run.ok()) << run.error().message;
  expect_exact(*run);
  const auto& l = run->recording.landmarks;
  EXPECT_GT(l.probes, 0u);
  EXPECT_GT(l.probe_checkpoint, 0u);
  // The one or two landmarks that land right after the handler's exit may rightly be cheap;
  // most are not.
  EXPECT_LE(l.probe_breakpoint * 4, l.probes);
}

}  // namespace
}  // namespace ftvm::replay::testing
