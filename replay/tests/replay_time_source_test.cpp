#include "replay/replay_time_source.h"

#include <gtest/gtest.h>

#include <vector>

namespace ftvm::replay {
namespace {

class FixedClock final : public TimeSource {
 public:
  uint64_t monotonic_ns() override { return monotonic; }
  int64_t realtime_ns() override { return realtime; }
  uint64_t monotonic = 0;
  int64_t realtime = 0;
};

class CollectingSink final : public EntrySink {
 public:
  Result<void> append(const TraceEntry& entry) override {
    entries.push_back(entry);
    return {};
  }
  std::vector<TraceEntry> entries;
};

// A backup that went live records for the backups that join it: the values it hands out from
// the host are logged with their exits, those replayed from its own primary's log are not
// (they are the old primary's, logged there).
TEST(ReplayTimeSourceTest, LiveReadsAreRecordedAndReplayedOnesAreNot) {
  ReplayTimeSource time({ClockReadEntry{3, ClockKind::kMonotonic, 500}});
  uint64_t exit_count = 3;
  time.set_exit_count([&exit_count] { return exit_count; });
  CollectingSink sink;
  time.record_live_reads(sink);
  FixedClock host;
  host.monotonic = 900;
  host.realtime = 77;
  time.go_live(host);
  EXPECT_EQ(time.monotonic_ns(), 500u);
  EXPECT_TRUE(sink.entries.empty());
  exit_count = 4;
  EXPECT_EQ(time.monotonic_ns(), 900u);
  EXPECT_EQ(time.realtime_ns(), 77);
  ASSERT_EQ(sink.entries.size(), 2u);
  EXPECT_EQ(std::get<ClockReadEntry>(sink.entries[0]),
            (ClockReadEntry{4, ClockKind::kMonotonic, 900}));
  EXPECT_EQ(std::get<ClockReadEntry>(sink.entries[1]),
            (ClockReadEntry{4, ClockKind::kRealtime, 77}));
  EXPECT_EQ(time.last_value(ClockKind::kMonotonic), 900);
  EXPECT_FALSE(time.divergence());
}

// The values recorded are the ones the guest saw: shifted so that its clock never steps back
// when this host's clock is behind the old primary's.
TEST(ReplayTimeSourceTest, RecordedLiveReadsCarryTheShiftTheGuestSaw) {
  ReplayTimeSource time;
  time.continue_after(1000, 0);
  CollectingSink sink;
  time.record_live_reads(sink);
  FixedClock host;
  host.monotonic = 400;
  time.go_live(host);
  EXPECT_EQ(time.monotonic_ns(), 1000u);
  host.monotonic = 450;
  EXPECT_EQ(time.monotonic_ns(), 1050u);
  ASSERT_EQ(sink.entries.size(), 2u);
  EXPECT_EQ(std::get<ClockReadEntry>(sink.entries[1]).value, 1050);
}

}  // namespace
}  // namespace ftvm::replay
