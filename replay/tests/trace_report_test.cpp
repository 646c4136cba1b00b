#include "replay/trace_report.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <xxhash.h>

#include "replay/format_version.h"
#include "test_support.h"

namespace ftvm::replay {
namespace {

using testing::breakpoint_at;
using testing::bytes_of;
using ::testing::HasSubstr;
using testing::sync_at;

std::string line(uint64_t lsn, TraceEntry entry) {
  return format_entry(LoggedEntry{lsn, std::move(entry), 0});
}

TEST(TraceReportTest, FormatsEveryKind) {
  EXPECT_EQ(line(42, TimerEntry{sync_at(1234), 3}), "42 timer E=1234 sync gen=3");
  EXPECT_EQ(line(43, ConsoleInputEntry{breakpoint_at(1300, 0x1002a3, 0xc0ffee),
                                       bytes_of("echo \"hi\"\\\n\x01\xff")}),
            "43 console-input E=1300 bp rip=0x1002a3 fp=0x0000000000c0ffee "
            "\"echo \\\"hi\\\"\\\\\\n\\x01\\xff\"");
  EXPECT_EQ(line(44, ClockReadEntry{1301, ClockKind::kRealtime, -5}),
            "44 clock-read E=1301 realtime value=-5");
  EXPECT_EQ(line(45, CheckpointEntry{{1400, LandmarkKind::kCheckpoint, {0x10, 0x20}},
                                     std::vector<uint8_t>(4096)}),
            "45 checkpoint E=1400 ckpt rip=0x10 fp=0x0000000000000020 state=4096 bytes");
  EXPECT_EQ(line(46, RegistersDigestEntry{sync_at(1400), 0xab}),
            "46 registers-digest E=1400 sync digest=0x00000000000000ab");
  EXPECT_EQ(line(47, MemoryDigestEntry{1500, 0xcd}),
            "47 memory-digest E=1500 digest=0x00000000000000cd");
  EXPECT_EQ(line(48, EndEntry{2000, 1, 2, "shutdown\n"}),
            "48 end E=2000 regs=0x0000000000000001 mem=0x0000000000000002 reason=\"shutdown\\n\"");
}

TEST(TraceReportTest, ShortensLongConsoleInput) {
  const std::string text = line(1, ConsoleInputEntry{sync_at(1), std::vector<uint8_t>(1000, 'a')});
  EXPECT_THAT(text, HasSubstr("\"" + std::string(64, 'a') + "\"... (1000 bytes)"));
}

TraceHeader breakpoint_trace_header(std::span<const uint8_t> image) {
  TraceHeader header;
  header.guest_name = "testsvc";
  header.mem_bytes = 64 << 20;
  header.async_mode = "breakpoint";
  header.guest_image_xxh3 = XXH3_64bits(image.data(), image.size());
  return header;
}

// A small trace in memory: a header, four entries in two chunks, and a torn third chunk.
TraceReader sample_trace() {
  std::vector<uint8_t> image = bytes_of("guest");
  const TraceHeader header = breakpoint_trace_header(image);
  const std::vector<TraceEntry> entries = {
      TimerEntry{sync_at(10), 1},
      TimerEntry{sync_at(25), 1},
      ConsoleInputEntry{breakpoint_at(30, 0x1000, 0x2000), bytes_of("hi\n")},
      EndEntry{40, 0, 0, "done"},
  };
  auto log = testing::encode_log(entries, 2);
  auto torn = *encode_chunk(std::vector<TraceEntry>{TimerEntry{sync_at(50), 1}}, 4);
  log.insert(log.end(), torn.begin(), torn.end() - 1);
  auto trace = TraceReader::from_bytes(*encode_trace_header(header), image, log);
  EXPECT_TRUE(trace.ok()) << trace.error().message;
  return std::move(*trace);
}

TEST(TraceReportTest, DumpsHeaderEntriesAndTornTail) {
  const std::string dump = dump_trace(sample_trace());
  EXPECT_THAT(dump,
              HasSubstr(fmt::format("# ftvm trace, format version {}\n", kTraceFormatVersion)));
  EXPECT_THAT(dump, HasSubstr("# guest: \"testsvc\" (5 bytes"));
  EXPECT_THAT(dump, HasSubstr("\n0 timer E=10 sync gen=1\n1 timer E=25 sync gen=1\n"));
  EXPECT_THAT(dump, HasSubstr("\n2 console-input E=30 bp rip=0x1000 fp=0x0000000000002000 "
                              "\"hi\\n\"\n"));
  EXPECT_THAT(dump, HasSubstr("\n3 end E=40 "));
  EXPECT_THAT(dump, HasSubstr("# torn tail: the chunk at byte offset"));
}

// In a --async breakpoint trace, every other asynchronous landmark is one the recorder chose
// not to make a breakpoint: the stats say so.
TEST(TraceReportTest, StatsNameTheLandmarksAForcedBreakpointTraceFellBackOn) {
  std::vector<uint8_t> image = bytes_of("guest");
  const TraceHeader header = breakpoint_trace_header(image);
  const std::vector<TraceEntry> entries = {
      TimerEntry{breakpoint_at(10, 0x1000, 0x2000), 1},
      TimerEntry{{20, LandmarkKind::kCounted, {0, 0x30}, 1234}, 1},
      EndEntry{40, 0, 0, "done"},
  };
  auto trace =
      TraceReader::from_bytes(*encode_trace_header(header), image, testing::encode_log(entries, 1));
  ASSERT_TRUE(trace.ok()) << trace.error().message;
  const std::string text = trace_stats_text(*trace);
  EXPECT_THAT(text, HasSubstr("landmarks: 0 sync, 1 breakpoint, 0 checkpoint, 1 counted "
                              "(--async breakpoint)"));
  EXPECT_THAT(text, HasSubstr("1 of them stand where --async breakpoint placed no breakpoint"));
  EXPECT_EQ(trace_stats_json(*trace)["async_mode"], "breakpoint");
}

TEST(TraceReportTest, StatsCountKindsBytesAndLandmarks) {
  const TraceReader trace = sample_trace();
  const TraceStats stats = compute_trace_stats(trace);
  EXPECT_EQ(stats.entries, 4u);
  EXPECT_EQ(stats.chunks, 2u);
  EXPECT_EQ(stats.last_exit_count, 40u);
  EXPECT_EQ(stats.framing_bytes, 2 * kChunkHeaderBytes);
  EXPECT_EQ(stats.log_bytes, trace.log_bytes());
  EXPECT_TRUE(stats.torn_tail);
  ASSERT_EQ(stats.kinds.size(), std::variant_size_v<TraceEntry>);
  const KindStats& timer = stats.kinds[0];
  EXPECT_EQ(timer.kind, "timer");
  EXPECT_EQ(timer.count, 2u);
  EXPECT_EQ(timer.encoded_bytes, 6u);
  EXPECT_EQ(timer.landmarks[0], 2u);
  EXPECT_EQ(timer.landmark_bytes[0], 6u);  // both timer entries are synchronous
  EXPECT_EQ(timer.landmark_bytes[1], 0u);
  const KindStats& input = stats.kinds[1];
  EXPECT_EQ(input.landmark_bytes[1], input.encoded_bytes);  // its one entry, a breakpoint
  EXPECT_EQ(stats.landmarks[0], 2u);
  EXPECT_EQ(stats.landmarks[1], 1u);
  uint64_t encoded = 0;
  for (const auto& kind : stats.kinds) encoded += kind.encoded_bytes;
  EXPECT_EQ(encoded, stats.payload_bytes);

  const std::string text = trace_stats_text(trace);
  EXPECT_THAT(text, HasSubstr("4 entries in 2 chunks"));
  EXPECT_THAT(text, HasSubstr("timer"));
  EXPECT_THAT(text, HasSubstr("landmarks: 2 sync, 1 breakpoint, 0 checkpoint, 0 counted "
                              "(--async breakpoint)"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("placed no breakpoint")));
  EXPECT_THAT(text, HasSubstr("torn tail:"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("memory-digest")));  // kinds absent from the trace

  const nlohmann::json json = trace_stats_json(trace);
  EXPECT_EQ(json["entries"], 4);
  EXPECT_EQ(json["kinds"]["timer"]["count"], 2);
  EXPECT_EQ(json["kinds"]["timer"]["encoded_bytes"], 6);
  EXPECT_EQ(json["kinds"]["timer"]["landmarks"]["sync"], 2);
  EXPECT_EQ(json["kinds"]["console-input"]["landmarks"]["breakpoint"], 1);
  EXPECT_EQ(json["kinds"]["timer"]["landmark_bytes"]["sync"], 6);
  EXPECT_EQ(json["kinds"]["memory-digest"]["count"], 0);
  EXPECT_FALSE(json["kinds"]["end"].contains("landmarks"));
  EXPECT_EQ(json["landmarks"]["sync"], 2);
  EXPECT_TRUE(json["torn_tail"].is_string());
  EXPECT_EQ(json["guest_name"], "testsvc");
}

}  // namespace
}  // namespace ftvm::replay
