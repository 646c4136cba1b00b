// Streamed replay, as a backup runs it: the hard guests are recorded with a HorizonEntry at
// every deterministic exit (as a protected primary logs them) and replayed by the streaming
// Replayer from a LogFeed that a feeder thread fills in small, irregular batches, as the
// logging channel would (docs/protocol.md, "How the sides use horizons").
//
//  - A whole streamed log replays exactly, like a log handed over at once.
//  - A log cut short (the primary died) is finished: the replay stops, without divergence and
//    with log_exhausted, at the first exit where the log says nothing more: where a backup
//    goes live (docs/failover.md, "The backup goes live").
//  - A feed that falls silent without closing makes the replay wait, not diverge or finish.
//  - Without horizons the replay may not leave its first exit while the feed is open: the
//    horizons are what let a backup follow its primary.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "kvm_gate.h"
#include "record_replay_harness.h"

namespace ftvm::replay::testing {
namespace {

using std::chrono::milliseconds;

struct StreamCase {
  const char* guest;
  AsyncMode mode;
  int max_delay_us;
  // mem_loop's breakpoint landmarks cannot be told apart from other executions of their RIP
  // by registers alone (record_replay_test.cpp): the replay may diverge, but must say so.
  bool may_diverge = false;
  // The software CPU streams the same way: its landmarks are counted under auto, and KVM's
  // breakpoint landmarks under breakpoint (on its emulated debug registers).
  Accel accel = Accel::kKvm;
};

std::string stream_case_name(const StreamCase& c) {
  std::string guest = c.guest;
  guest.erase(std::remove(guest.begin(), guest.end(), '_'), guest.end());
  return fmt::format("{}_{}_delay{}us{}", guest, async_mode_name(c.mode), c.max_delay_us,
                     c.accel == Accel::kEmu ? "_emu" : "");
}

#define FTVM_REQUIRE_BACKEND(c)                       \
  do {                                                \
    if ((c).accel == Accel::kKvm) FTVM_REQUIRE_KVM(); \
  } while (false)

void PrintTo(const StreamCase& c, std::ostream* os) {
  *os << stream_case_name(c);
}

// Records `c`; with `horizons`, the log carries a HorizonEntry at every deterministic exit.
void record(const StreamCase& c, bool horizons, Recording& out) {
  RecordSetup setup;
  setup.guest = std::string(c.guest) + ".elf";
  setup.accel = c.accel;
  setup.async_mode = c.mode;
  setup.max_delay = std::chrono::microseconds(c.max_delay_us);
  setup.log_horizons = horizons;
  auto recording = record_guest(setup);
  ASSERT_TRUE(recording.ok()) << recording.error().message;
  ASSERT_EQ(recording->result.reason, RunResult::Reason::kGuestShutdown)
      << recording->result.detail;
  ASSERT_EQ(recording->result.guest_status, 0u);
  out = std::move(*recording);
}

std::optional<uint64_t> horizon_of(const TraceEntry& entry) {
  if (const auto* horizon = std::get_if<HorizonEntry>(&entry)) return horizon->exit_count;
  return std::nullopt;
}

// The greatest horizon among the first `count` entries (0 if none: a replay starts at exit 0).
uint64_t last_horizon(const std::vector<TraceEntry>& entries, size_t count) {
  uint64_t last = 0;
  for (size_t i = 0; i < count; ++i) last = std::max(last, horizon_of(entries[i]).value_or(0));
  return last;
}

// A log recorded with horizons has them in increasing order, the first at exit 0, and no input
// (or checkpoint) is logged at an exit a horizon has already passed.
void check_horizons(const Recording& recording) {
  std::vector<uint64_t> horizons;
  for (const auto& entry : recording.entries) {
    if (auto h = horizon_of(entry)) {
      if (!horizons.empty()) {
        ASSERT_GT(*h, horizons.back()) << "horizons out of order";
      }
      horizons.push_back(*h);
    } else if (const auto position = input_position(entry)) {
      ASSERT_FALSE(horizons.empty()) << "an input before the first horizon";
      ASSERT_GE(position->exit_count, horizons.back())
          << "an input logged at an exit the horizon has already passed";
    }
  }
  ASSERT_FALSE(horizons.empty());
  EXPECT_EQ(horizons.front(), 0u);
  EXPECT_LT(horizons.back(), recording.exit_count);
}

ReplaySetup streamed(uint64_t seed) {
  ReplaySetup setup;
  setup.streamed = true;
  setup.stream.seed = seed;
  setup.stream.max_batch = 8;
  setup.stream.max_pause = std::chrono::microseconds(200);
  return setup;
}

bool is_prefix(const std::vector<PortWrite>& prefix, const std::vector<PortWrite>& of) {
  return prefix.size() <= of.size() && std::equal(prefix.begin(), prefix.end(), of.begin());
}

std::string describe(const Replay& replay) {
  return fmt::format("{} at E={} (log_exhausted={}, consumed_lsn={}, horizon={}): {}",
                     reason_name(replay.result.reason), replay.exit_count, replay.log_exhausted,
                     replay.consumed_lsn, replay.horizon, report_head(replay.result.detail, 12));
}

// ---- Whole logs, streamed ----------------------------------------------------------------

class StreamedReplayTest : public ::testing::TestWithParam<StreamCase> {};

TEST_P(StreamedReplayTest, ReplaysExactly) {
  const StreamCase& c = GetParam();
  FTVM_REQUIRE_BACKEND(c);
  Recording recording;
  ASSERT_NO_FATAL_FAILURE(record(c, true, recording));
  ASSERT_NO_FATAL_FAILURE(check_horizons(recording));

  const uint64_t seed = std::hash<std::string>{}(stream_case_name(c));
  auto replay = replay_recording(recording, recording.entries, streamed(seed));
  ASSERT_TRUE(replay.ok()) << replay.error().message;
  std::cout << "[ figures  ] streamed " << stream_case_name(c) << ": "
            << summary(recording, *replay) << "\n";

  if (c.may_diverge && replay->result.reason == RunResult::Reason::kDivergence) {
    std::cout << "[ diverged ] as allowed: " << report_head(replay->result.detail, 2) << "\n";
    return;
  }
  ASSERT_TRUE(exact(recording, *replay)) << describe(*replay);
  // It ended at the recording's end entry, not because the log ran out.
  EXPECT_FALSE(replay->log_exhausted);
  EXPECT_EQ(replay->exit_count, recording.exit_count);
  EXPECT_EQ(replay->stats.inputs, input_count(recording.entries));
  EXPECT_EQ(replay->stats.checkpoint, recording.landmarks.checkpoint);
  EXPECT_EQ(replay->horizon, last_horizon(recording.entries, recording.entries.size()));
}

// clang-format off
const StreamCase kStreamCases[] = {
    {"reg_loop", AsyncMode::kCheckpoint, 0},
    {"reg_loop", AsyncMode::kCheckpoint, 1000},
    {"reg_loop", AsyncMode::kAuto, 0},
    {"reg_loop", AsyncMode::kAuto, 1000},
    {"mem_loop", AsyncMode::kCheckpoint, 0},
    {"mem_loop", AsyncMode::kCheckpoint, 1000},
    {"mem_loop", AsyncMode::kAuto, 0, true},
    {"mem_loop", AsyncMode::kAuto, 1000, true},
    {"sti_hlt", AsyncMode::kCheckpoint, 0},
    {"sti_hlt", AsyncMode::kCheckpoint, 1000},
    {"sti_hlt", AsyncMode::kAuto, 0},
    {"sti_hlt", AsyncMode::kAuto, 1000},
    {"mov_ss", AsyncMode::kCheckpoint, 0},
    {"mov_ss", AsyncMode::kCheckpoint, 1000},
    {"mov_ss", AsyncMode::kAuto, 0},
    {"mov_ss", AsyncMode::kAuto, 1000},
    {"stack_loop", AsyncMode::kCheckpoint, 0},
    {"stack_loop", AsyncMode::kCheckpoint, 1000},
    {"stack_loop", AsyncMode::kAuto, 0},
    {"stack_loop", AsyncMode::kAuto, 1000},
    {"hlt_loop", AsyncMode::kCheckpoint, 0},
    {"hlt_loop", AsyncMode::kCheckpoint, 1000},
    {"hlt_loop", AsyncMode::kAuto, 0},
    {"hlt_loop", AsyncMode::kAuto, 1000},
    {"reg_loop", AsyncMode::kAuto, 0, false, Accel::kEmu},
    {"mem_loop", AsyncMode::kAuto, 1000, false, Accel::kEmu},
    {"sti_hlt", AsyncMode::kAuto, 0, false, Accel::kEmu},
    {"mov_ss", AsyncMode::kAuto, 1000, false, Accel::kEmu},
    {"stack_loop", AsyncMode::kBreakpoint, 0, false, Accel::kEmu},
    {"hlt_loop", AsyncMode::kAuto, 1000, false, Accel::kEmu},
    {"if_toggle", AsyncMode::kBreakpoint, 1000, false, Accel::kEmu},
};
// clang-format on

INSTANTIATE_TEST_SUITE_P(HardGuests, StreamedReplayTest, ::testing::ValuesIn(kStreamCases),
                         [](const ::testing::TestParamInfo<StreamCase>& info) {
                           return stream_case_name(info.param);
                         });

// ---- Logs cut short: the backup finishes the log --------------------------------------------
//
// The primary dies after entry `cut - 1`: the feed gets entries [0, cut) and is closed. The
// replay must apply all of them and stop, without divergence, with log_exhausted, at the first
// exit where the log says nothing more; whatever the guest wrote so far is a prefix of what it
// wrote when recorded.
//
// Cut after HorizonEntry{H}: everything logged for exits up to H has arrived, nothing beyond,
// so the replay stops exactly at H. Cut elsewhere (mid-turn: after an input, a checkpoint, a
// clock read, a digest of the turn after the last horizon H): the entries after Horizon{H}
// belong to exit H (asynchronous landmarks, inputs of a halted turn) or to H+1 (its clock
// reads, digests and synchronous inputs), so it stops at H or H+1.

struct Cut {
  size_t cut = 0;  // entries [0, cut) are streamed
  std::string after;
};

// Where to cut `entries`: after the first horizon, after horizons a quarter, half and three
// quarters of the way, and after the middle entry of each other kind (inputs told apart by
// landmark kind).
std::vector<Cut> cut_points(const std::vector<TraceEntry>& entries) {
  std::vector<size_t> horizons;
  std::map<std::string, std::vector<size_t>> others;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (horizon_of(entries[i])) {
      horizons.push_back(i);
      continue;
    }
    if (std::holds_alternative<EndEntry>(entries[i]) || horizons.empty()) continue;
    std::string kind = entry_kind_name(entries[i]);
    if (auto position = input_position(entries[i])) {
      kind += position->kind == LandmarkKind::kSynchronous  ? " (synchronous)"
              : position->kind == LandmarkKind::kBreakpoint ? " (breakpoint)"
                                                            : " (checkpoint)";
    }
    others[kind].push_back(i);
  }
  std::vector<Cut> cuts;
  if (horizons.size() < 4) return cuts;
  for (size_t k : {size_t{0}, horizons.size() / 4, horizons.size() / 2, horizons.size() * 3 / 4}) {
    cuts.push_back(
        {horizons[k] + 1, fmt::format("horizon E={}", *horizon_of(entries[horizons[k]]))});
  }
  for (const auto& [kind, at] : others) {
    const size_t i = at[at.size() / 2];
    cuts.push_back({i + 1, fmt::format("{} (entry {})", kind, i)});
  }
  return cuts;
}

class TruncatedStreamTest : public ::testing::TestWithParam<StreamCase> {};

TEST_P(TruncatedStreamTest, ReplayFinishesTheLogWhereItEnds) {
  const StreamCase& c = GetParam();
  FTVM_REQUIRE_BACKEND(c);
  Recording recording;
  ASSERT_NO_FATAL_FAILURE(record(c, true, recording));
  const auto& entries = recording.entries;
  const auto cuts = cut_points(entries);
  ASSERT_GE(cuts.size(), 6u) << "too short a log to cut";
  bool cut_mid_turn_with_input = false;
  for (const Cut& cut : cuts) {
    SCOPED_TRACE(fmt::format("log cut after entry {}: {}", cut.cut - 1, cut.after));
    const bool at_horizon = horizon_of(entries[cut.cut - 1]).has_value();
    const uint64_t horizon = last_horizon(entries, cut.cut);
    const std::span<const TraceEntry> streamed_entries(entries.data(), cut.cut);
    cut_mid_turn_with_input |= !at_horizon && input_position(entries[cut.cut - 1]).has_value();

    ReplaySetup setup = streamed(cut.cut);
    setup.stream.end_at = cut.cut;
    auto replay = replay_recording(recording, entries, setup);
    ASSERT_TRUE(replay.ok()) << replay.error().message;
    std::cout << "[ figures  ] " << stream_case_name(c) << " cut after " << cut.after << ": "
              << reason_name(replay->result.reason) << " at E=" << replay->exit_count << " of "
              << recording.exit_count << " (horizon " << horizon << ")\n";

    // A cut among the entries of the guest's last exit (where few digests were logged, the
    // middle one can be the final one) lets the replay run that exit: the guest's own end.
    const bool ran_to_the_guests_end = replay->result.reason == RunResult::Reason::kGuestShutdown &&
                                       replay->exit_count == recording.exit_count;
    ASSERT_TRUE(replay->result.reason == RunResult::Reason::kReplayComplete ||
                ran_to_the_guests_end)
        << describe(*replay);
    EXPECT_TRUE(replay->log_exhausted || ran_to_the_guests_end) << describe(*replay);
    if (at_horizon) {
      EXPECT_EQ(replay->exit_count, horizon) << describe(*replay);
    } else {
      EXPECT_GE(replay->exit_count, horizon) << describe(*replay);
      EXPECT_LE(replay->exit_count, horizon + 1) << describe(*replay);
    }
    EXPECT_EQ(replay->horizon, horizon);
    // Everything received was applied (and so acknowledged as replayed).
    EXPECT_EQ(replay->stats.inputs, input_count(streamed_entries));
    EXPECT_EQ(replay->consumed_lsn, cut.cut);
    EXPECT_TRUE(is_prefix(replay->port_writes, recording.port_writes))
        << replay->port_writes.size() << " port writes, recorded " << recording.port_writes.size();
  }
  EXPECT_TRUE(cut_mid_turn_with_input) << "no cut right after an input";
}

const StreamCase kTruncatedCases[] = {
    {"reg_loop", AsyncMode::kCheckpoint, 0},     // checkpoints
    {"stack_loop", AsyncMode::kAuto, 1000},      // breakpoint landmarks and synchronous ticks
    {"hlt_loop", AsyncMode::kCheckpoint, 1000},  // ticks that wake a halted guest
    {"reg_loop", AsyncMode::kAuto, 0, false, Accel::kEmu},          // counted landmarks
    {"stack_loop", AsyncMode::kBreakpoint, 0, false, Accel::kEmu},  // emulated breakpoints
    {"hlt_loop", AsyncMode::kAuto, 1000, false, Accel::kEmu},
};

INSTANTIATE_TEST_SUITE_P(HardGuests, TruncatedStreamTest, ::testing::ValuesIn(kTruncatedCases),
                         [](const ::testing::TestParamInfo<StreamCase>& info) {
                           return stream_case_name(info.param);
                         });

// ---- A silent primary ----------------------------------------------------------------------
//
// The feed gets half the log, then nothing for 300 ms, without being closed (a slow primary,
// or a slow channel): the replay waits at the last exit the horizons allow; it neither
// finishes nor reports anything. Then the rest comes and it replays exactly.

class SilentFeedTest : public ::testing::TestWithParam<StreamCase> {};

TEST_P(SilentFeedTest, ReplayWaitsForTheLog) {
  const StreamCase& c = GetParam();
  FTVM_REQUIRE_BACKEND(c);
  Recording recording;
  ASSERT_NO_FATAL_FAILURE(record(c, true, recording));
  const size_t half = recording.entries.size() / 2;
  const uint64_t horizon = last_horizon(recording.entries, half);
  ReplaySetup setup = streamed(half);
  setup.stream.hold_at = half;
  setup.stream.hold_for = milliseconds(300);
  setup.stream.hold_until_exit = horizon;
  auto replay = replay_recording(recording, recording.entries, setup);
  ASSERT_TRUE(replay.ok()) << replay.error().message;

  ASSERT_TRUE(replay->at_hold_end.has_value());
  std::cout << "[ figures  ] " << stream_case_name(c) << ": during the silence after entry " << half
            << " (horizon " << horizon
            << ") the replay waited at E=" << replay->at_hold_end->exit_count << "\n";
  EXPECT_FALSE(replay->at_hold_end->finished) << "the replay ended while the feed was silent";
  // It went as far as the horizons let it, and no further.
  EXPECT_EQ(replay->at_hold_end->exit_count, horizon);
  EXPECT_TRUE(exact(recording, *replay)) << describe(*replay);
  EXPECT_FALSE(replay->log_exhausted);
  EXPECT_EQ(replay->exit_count, recording.exit_count);
}

const StreamCase kSilentCases[] = {
    {"reg_loop", AsyncMode::kAuto, 1000},
    {"stack_loop", AsyncMode::kCheckpoint, 0},
    {"reg_loop", AsyncMode::kAuto, 1000, false, Accel::kEmu},
};

INSTANTIATE_TEST_SUITE_P(HardGuests, SilentFeedTest, ::testing::ValuesIn(kSilentCases),
                         [](const ::testing::TestParamInfo<StreamCase>& info) {
                           return stream_case_name(info.param);
                         });

// ---- Horizons ------------------------------------------------------------------------------
//
// A log recorded without horizons, streamed whole into a feed that stays open: the replay may
// not leave exit 0, because nothing says the primary will log no more input there (a horizon
// beyond it, or the log's end). The same log with horizons is replayed while the feed stays
// open. Once a horizon-less log is closed, the backup finishes it: every entry it holds
// comes after the inputs of the exits before it, so it replays through them (docs/failover.md).

class HorizonTest : public ::testing::TestWithParam<Accel> {
 protected:
  void SetUp() override {
    if (GetParam() == Accel::kKvm) FTVM_REQUIRE_KVM();
  }
  // Checkpoints on KVM; counted landmarks on the software CPU.
  StreamCase case_{"reg_loop",
                   GetParam() == Accel::kKvm ? AsyncMode::kCheckpoint : AsyncMode::kAuto, 1000,
                   false, GetParam()};
};

TEST_P(HorizonTest, WithoutHorizonsTheReplayStaysAtItsFirstExit) {
  Recording recording;
  ASSERT_NO_FATAL_FAILURE(record(case_, false, recording));
  ASSERT_EQ(last_horizon(recording.entries, recording.entries.size()), 0u);
  ASSERT_GT(input_count(recording.entries), 0u);
  ReplaySetup setup = streamed(7);
  setup.stream.hold_at = recording.entries.size();  // all of it, then 300 ms of silence
  setup.stream.hold_for = milliseconds(300);
  setup.stream.end = StreamSetup::End::kRequestStop;
  auto replay = replay_recording(recording, recording.entries, setup);
  ASSERT_TRUE(replay.ok()) << replay.error().message;

  ASSERT_TRUE(replay->at_hold_end.has_value());
  EXPECT_FALSE(replay->at_hold_end->finished);
  EXPECT_EQ(replay->at_hold_end->exit_count, 0u);
  EXPECT_EQ(replay->result.reason, RunResult::Reason::kStopRequested) << describe(*replay);
  EXPECT_EQ(replay->exit_count, 0u);
  EXPECT_EQ(replay->stats.inputs, 0u);
  EXPECT_TRUE(replay->port_writes.empty());
  EXPECT_FALSE(replay->log_exhausted);
  std::cout << "[ figures  ] at exit 0 with no input applied, consumed_lsn=" << replay->consumed_lsn
            << " of " << recording.entries.size() << " entries\n";
}

// The guest's last exit (its shutdown) has no horizon: with the feed open, the replay gets to
// the last horizon and waits there (the log's end entry alone does not let it on) until the
// primary closes the log, as its goodbye does; then it replays exactly.
TEST_P(HorizonTest, WithHorizonsAnOpenLogIsReplayedToItsLastHorizon) {
  Recording recording;
  ASSERT_NO_FATAL_FAILURE(record(case_, true, recording));
  const uint64_t horizon = last_horizon(recording.entries, recording.entries.size());
  ASSERT_GT(horizon, 0u);
  ReplaySetup setup = streamed(8);
  setup.stream.hold_at = recording.entries.size();
  setup.stream.hold_for = milliseconds(0);
  setup.stream.hold_until_exit = horizon;
  auto replay = replay_recording(recording, recording.entries, setup);
  ASSERT_TRUE(replay.ok()) << replay.error().message;

  ASSERT_TRUE(replay->at_hold_end.has_value());
  EXPECT_FALSE(replay->at_hold_end->finished);
  EXPECT_EQ(replay->at_hold_end->exit_count, horizon);
  EXPECT_TRUE(exact(recording, *replay)) << describe(*replay);
  EXPECT_FALSE(replay->log_exhausted);
  EXPECT_EQ(replay->exit_count, recording.exit_count);
}

TEST_P(HorizonTest, WithoutHorizonsAClosedLogIsFinished) {
  Recording recording;
  ASSERT_NO_FATAL_FAILURE(record(case_, false, recording));
  auto replay = replay_recording(recording, recording.entries, streamed(9));
  ASSERT_TRUE(replay.ok()) << replay.error().message;
  EXPECT_TRUE(exact(recording, *replay)) << describe(*replay);
  EXPECT_EQ(replay->exit_count, recording.exit_count);
  EXPECT_EQ(replay->stats.inputs, input_count(recording.entries));
}

INSTANTIATE_TEST_SUITE_P(Backends, HorizonTest, ::testing::Values(Accel::kKvm, Accel::kEmu),
                         [](const ::testing::TestParamInfo<Accel>& info) {
                           return std::string(accel_name(info.param));
                         });

}  // namespace
}  // namespace ftvm::replay::testing
