#include "replay/entry_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "test_support.h"

namespace ftvm::replay {
namespace {

using testing::breakpoint_at;
using testing::bytes_of;
using ::testing::HasSubstr;
using testing::sync_at;

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();
constexpr int64_t kMinI64 = std::numeric_limits<int64_t>::min();
constexpr int64_t kMaxI64 = std::numeric_limits<int64_t>::max();

std::vector<uint8_t> encode_all(const std::vector<TraceEntry>& entries) {
  EntryEncoder encoder;
  std::vector<uint8_t> out;
  for (const auto& entry : entries) {
    auto r = encoder.encode(entry, out);
    EXPECT_TRUE(r.ok()) << r.error().message;
  }
  return out;
}

Result<std::vector<TraceEntry>> decode_all(std::span<const uint8_t> bytes) {
  EntryDecoder decoder(bytes);
  std::vector<TraceEntry> entries;
  while (!decoder.at_end()) {
    auto entry = decoder.next();
    if (!entry) return entry.error();
    entries.push_back(std::move(*entry));
  }
  return entries;
}

void expect_round_trip(const std::vector<TraceEntry>& entries) {
  const auto bytes = encode_all(entries);
  auto decoded = decode_all(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(*decoded, entries);
}

std::string decode_error(const std::vector<uint8_t>& bytes) {
  auto decoded = decode_all(bytes);
  return decoded.ok() ? "no error" : decoded.error().message;
}

TEST(EntryCodecTest, RoundTripsEveryKindWithEdgeValues) {
  const AsyncPoint max_point{kMaxU64, kMaxU64};
  expect_round_trip({
      TimerEntry{sync_at(0), 0},
      TimerEntry{sync_at(kMaxU64), kMaxU64},
      TimerEntry{{0, LandmarkKind::kBreakpoint, max_point}, 0},
      TimerEntry{{7, LandmarkKind::kCheckpoint, {0, 0}}, 1},
      ConsoleInputEntry{sync_at(1), {}},
      ConsoleInputEntry{breakpoint_at(2, 0x1002a3, 0xdeadbeef), bytes_of("echo hi\n")},
      ConsoleInputEntry{{kMaxU64, LandmarkKind::kCheckpoint, max_point},
                        std::vector<uint8_t>(1 << 20, 0x5a)},
      ClockReadEntry{0, ClockKind::kMonotonic, 0},
      ClockReadEntry{1, ClockKind::kMonotonic, kMinI64},
      ClockReadEntry{2, ClockKind::kMonotonic, kMaxI64},
      ClockReadEntry{3, ClockKind::kRealtime, -1},
      ClockReadEntry{3, ClockKind::kRealtime, kMinI64},
      CheckpointEntry{{5, LandmarkKind::kCheckpoint, max_point}, {}},
      CheckpointEntry{{5, LandmarkKind::kCheckpoint, {1, 2}}, std::vector<uint8_t>(3000, 1)},
      RegistersDigestEntry{sync_at(0), 0},
      RegistersDigestEntry{breakpoint_at(kMaxU64, kMaxU64, 0), kMaxU64},
      MemoryDigestEntry{0, 0},
      MemoryDigestEntry{kMaxU64, kMaxU64},
      OutputDigestEntry{0, 0, 0},
      OutputDigestEntry{kMaxU64, kMaxU64, kMaxU64},
      HorizonEntry{0},
      HorizonEntry{kMaxU64},
      InterruptWindowEntry{sync_at(3)},
      InterruptWindowEntry{{9, LandmarkKind::kCheckpoint, max_point}},
      BlockCompletionEntry{sync_at(4), 17, 0, {1, 2, 3, 4}},
      BlockCompletionEntry{{5, LandmarkKind::kBreakpoint, max_point}, 3, 1, {}},
      BlockCompletionEntry{sync_at(6), ~uint64_t{0}, 2, {}},
      NetFrameEntry{sync_at(7), std::vector<uint8_t>(60, 0x11)},
      NetFrameEntry{sync_at(8), std::vector<uint8_t>(1514, 0x22)},
      EndEntry{0, 0, 0, ""},
      EndEntry{kMaxU64, kMaxU64, kMaxU64, std::string(kMaxReasonBytes, 'x')},
  });
}

TEST(EntryCodecTest, RoundTripsExitCountsThatGoBackwards) {
  // Not something a recorder writes, but the codec must not be the one to notice.
  expect_round_trip({MemoryDigestEntry{kMaxU64, 1}, TimerEntry{sync_at(0), 5},
                     TimerEntry{sync_at(kMaxU64 / 2), 0}, EndEntry{3, 0, 0, "x"}});
}

TEST(EntryCodecTest, AHorizonOneExitLaterCostsTwoBytes) {
  // The primary logs a horizon at nearly every exit of a pair: it must stay tiny.
  EntryEncoder encoder;
  std::vector<uint8_t> out;
  ASSERT_TRUE(encoder.encode(HorizonEntry{1'000'000}, out));
  const size_t first = out.size();
  ASSERT_TRUE(encoder.encode(HorizonEntry{1'000'001}, out));
  EXPECT_EQ(out.size() - first, 2u);
}

TEST(EntryCodecTest, RoundTripsTheLargestBlob) {
  expect_round_trip({CheckpointEntry{{9, LandmarkKind::kCheckpoint, {1, 2}},
                                     std::vector<uint8_t>(kMaxBlobBytes, 0x42)}});
}

TEST(EntryCodecTest, SynchronousTimerTicksCostAtMostFourBytes) {
  // A realistic run: E grows by 5 to 20 exits per tick, the PIT is reprogrammed rarely.
  std::mt19937_64 random(42);
  std::vector<TraceEntry> ticks;
  uint64_t exit_count = 1'000'000;
  uint64_t generation = 3;
  for (int i = 0; i < 10'000; ++i) {
    exit_count += 5 + random() % 16;
    if (i % 2500 == 0) ++generation;
    const TimerEntry tick{sync_at(exit_count), generation};
    ticks.emplace_back(tick);
  }
  EntryEncoder encoder;
  std::vector<uint8_t> out;
  ASSERT_TRUE(encoder.encode(TimerEntry{sync_at(1'000'000), 3}, out).ok());  // first of a chunk
  for (const auto& tick : ticks) {
    const size_t before = out.size();
    ASSERT_TRUE(encoder.encode(tick, out).ok());
    EXPECT_LE(out.size() - before, 4u);
  }
  EXPECT_EQ(decode_all(out)->size(), ticks.size() + 1);
}

TEST(EntryCodecTest, TypicalSynchronousTimerTickIsThreeBytes) {
  const auto bytes = encode_all({TimerEntry{sync_at(100), 2}, TimerEntry{sync_at(112), 2}});
  const size_t second = bytes.size() - encode_all({TimerEntry{sync_at(100), 2}}).size();
  EXPECT_EQ(second, 3u);  // type byte, E delta, generation delta
}

TEST(EntryCodecTest, SynchronousPositionsDoNotStoreAPoint) {
  const auto bytes = encode_all({TimerEntry{{5, LandmarkKind::kSynchronous, {1, 2}}, 0}});
  auto decoded = decode_all(bytes);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(std::get<TimerEntry>((*decoded)[0]).position, sync_at(5));
}

TEST(EntryCodecTest, AsynchronousPositionsCarryRipAndFingerprint) {
  const auto sync = encode_all({RegistersDigestEntry{sync_at(5), 0}});
  const auto async = encode_all({RegistersDigestEntry{breakpoint_at(5, 1, 2), 0}});
  EXPECT_EQ(async.size(), sync.size() + 16);
}

TEST(EntryCodecTest, ABreakpointPositionsMemoryDigestCostsFourBytesAndRoundTrips) {
  Position with_memory = breakpoint_at(5, 0x1000, 2);
  with_memory.point.memory = 0xdeadbeef;
  const auto without = encode_all({TimerEntry{breakpoint_at(5, 0x1000, 2), 1}});
  const auto with = encode_all({TimerEntry{with_memory, 1}});
  EXPECT_EQ(with.size(), without.size() + 4);
  expect_round_trip({TimerEntry{with_memory, 1}, ConsoleInputEntry{with_memory, {'x'}},
                     InterruptWindowEntry{with_memory}, TimerEntry{breakpoint_at(6, 1, 2), 2}});
}

TEST(EntryCodecTest, AMemoryDigestIsOnlyAtABreakpointAndNeverZero) {
  // 0x41: a timer flagged with a memory digest; a synchronous one has none to carry.
  EXPECT_THAT(decode_error({0x41, 0x00, 0x00}), HasSubstr("not at a breakpoint landmark"));
  // 0x65: a registers digest at a checkpoint landmark (variant 2), flagged.
  std::vector<uint8_t> checkpoint = {0x65, 0x00};
  checkpoint.resize(checkpoint.size() + 24, 0);
  EXPECT_THAT(decode_error(checkpoint), HasSubstr("not at a breakpoint landmark"));
  // 0x51: a timer at a breakpoint landmark whose flagged digest is zero.
  std::vector<uint8_t> zero = {0x51, 0x00};
  zero.resize(zero.size() + 16 + 4 + 1, 0);
  EXPECT_THAT(decode_error(zero), HasSubstr("flagged memory digest is zero"));

  EntryEncoder encoder;
  std::vector<uint8_t> out;
  Position checkpoint_with_memory{3, LandmarkKind::kCheckpoint, {1, 2, 3}};
  auto refused = encoder.encode(TimerEntry{checkpoint_with_memory, 0}, out);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.error().message, HasSubstr("only a breakpoint landmark"));
  EXPECT_TRUE(out.empty());
}

TEST(EntryCodecTest, CountedPositionsRoundTripInAtMostSixteenBytes) {
  Position counted{7, LandmarkKind::kCounted, {0, 0xfedcba9876543210}, 1'234'567};
  expect_round_trip({TimerEntry{counted, 3}, ConsoleInputEntry{counted, {'x'}},
                     TimerEntry{{7, LandmarkKind::kCounted, {0, 1}, 0}, 3},
                     TimerEntry{{9, LandmarkKind::kCounted, {0, 2}, ~0ull}, 4}});
  // A timer tick at a counted landmark: type byte, E delta, the count (a few million
  // instructions: 4 bytes), the registers digest, the generation delta.
  const auto before = encode_all({TimerEntry{sync_at(5), 2}});
  const auto after = encode_all({TimerEntry{sync_at(5), 2}, TimerEntry{counted, 2}});
  EXPECT_LE(after.size() - before.size(), 16u);
}

TEST(EntryCodecTest, EncoderRejectsWhatTheDecoderWouldRejectAndWritesNothing) {
  EntryEncoder encoder;
  std::vector<uint8_t> out;
  auto too_long = encoder.encode(EndEntry{1, 0, 0, std::string(kMaxReasonBytes + 1, 'x')}, out);
  ASSERT_FALSE(too_long.ok());
  EXPECT_THAT(too_long.error().message, HasSubstr("at most 4096"));
  auto too_big =
      encoder.encode(ConsoleInputEntry{sync_at(1), std::vector<uint8_t>(kMaxBlobBytes + 1)}, out);
  EXPECT_FALSE(too_big.ok());
  auto bad_kind = encoder.encode(TimerEntry{{1, static_cast<LandmarkKind>(4), {}}, 0}, out);
  ASSERT_FALSE(bad_kind.ok());
  EXPECT_THAT(bad_kind.error().message, HasSubstr("invalid landmark kind 4"));
  auto bad_clock = encoder.encode(ClockReadEntry{1, static_cast<ClockKind>(2), 0}, out);
  EXPECT_FALSE(bad_clock.ok());
  EXPECT_TRUE(out.empty());

  // The failures did not move the delta base either.
  ASSERT_TRUE(encoder.encode(TimerEntry{sync_at(1), 0}, out).ok());
  EXPECT_EQ(out, encode_all({TimerEntry{sync_at(1), 0}}));
}

TEST(EntryCodecTest, ResetStartsTheDeltasOver) {
  EntryEncoder encoder;
  std::vector<uint8_t> first;
  std::vector<uint8_t> second;
  ASSERT_TRUE(encoder.encode(TimerEntry{sync_at(1000), 7}, first).ok());
  encoder.reset();
  ASSERT_TRUE(encoder.encode(TimerEntry{sync_at(1000), 7}, second).ok());
  EXPECT_EQ(first, second);
}

TEST(EntryCodecTest, RejectsUnknownAndMalformedTypeBytes) {
  EXPECT_THAT(decode_error({0x00, 0x00}), HasSubstr("unknown entry type 0"));
  EXPECT_THAT(decode_error({0x0d, 0x00}), HasSubstr("unknown entry type 13"));
  EXPECT_THAT(decode_error({0x19, 0x00}), HasSubstr("variant bits"));
  EXPECT_THAT(decode_error({0x81, 0x00, 0x00}), HasSubstr("reserved bits"));
  EXPECT_THAT(decode_error({0x31, 0x00, 0x05}), HasSubstr("truncated landmark registers digest"));
  EXPECT_THAT(decode_error({0x23, 0x00, 0x00}), HasSubstr("unknown clock 2"));
  EXPECT_THAT(decode_error({0x16, 0x00, 0, 0, 0, 0, 0, 0, 0, 0}), HasSubstr("variant bits"));
}

TEST(EntryCodecTest, RejectsNonCanonicalAndOversizedVarints) {
  EXPECT_THAT(decode_error({0x01, 0x80, 0x00, 0x00}), HasSubstr("shortest varint form"));
  std::vector<uint8_t> eleven_bytes = {0x01};
  eleven_bytes.insert(eleven_bytes.end(), 10, 0xff);
  eleven_bytes.push_back(0x01);
  EXPECT_THAT(decode_error(eleven_bytes), HasSubstr("does not fit in 64 bits"));
  std::vector<uint8_t> overflow = {0x01};
  overflow.insert(overflow.end(), 9, 0xff);
  overflow.push_back(0x02);
  EXPECT_THAT(decode_error(overflow), HasSubstr("does not fit in 64 bits"));
}

TEST(EntryCodecTest, RejectsBlobLengthsOverTheLimitWithoutAllocating) {
  std::vector<uint8_t> bytes = {0x02, 0x00};  // sync console input at E=0
  uint64_t length = kMaxBlobBytes + 1;
  while (length >= 0x80) {
    bytes.push_back(static_cast<uint8_t>(length | 0x80));
    length >>= 7;
  }
  bytes.push_back(static_cast<uint8_t>(length));
  const std::string error = decode_error(bytes);
  EXPECT_THAT(error, HasSubstr("more than the maximum 67108864"));
  EXPECT_THAT(error, HasSubstr("console-input entry"));
}

TEST(EntryCodecTest, EveryTruncationIsAnErrorNamingTheOffset) {
  const auto bytes = encode_all(testing::mixed_entries(40));
  const auto whole = decode_all(bytes);
  ASSERT_TRUE(whole.ok());
  size_t complete_prefixes = 0;
  for (size_t size = 0; size < bytes.size(); ++size) {
    auto decoded = decode_all(std::span(bytes).first(size));
    if (decoded.ok()) {
      ++complete_prefixes;  // the cut fell between two entries
      EXPECT_LT(decoded->size(), whole->size());
    } else {
      EXPECT_THAT(decoded.error().message, HasSubstr("at byte"));
    }
  }
  EXPECT_EQ(complete_prefixes, whole->size());
}

TEST(EntryCodecTest, ErrorsNameTheStreamOffset) {
  const std::vector<uint8_t> bytes = {0x01, 0x05};  // a timer without its generation
  EntryDecoder decoder(bytes, 1000);
  auto entry = decoder.next();
  ASSERT_FALSE(entry.ok());
  EXPECT_THAT(entry.error().message, HasSubstr("at byte 1002"));
  EXPECT_THAT(entry.error().message, HasSubstr("timer entry starting at byte 1000"));
}

TEST(EntryCodecTest, KindNames) {
  EXPECT_STREQ(entry_kind_name(TimerEntry{}), "timer");
  EXPECT_STREQ(entry_kind_name(ConsoleInputEntry{}), "console-input");
  EXPECT_STREQ(entry_kind_name(ClockReadEntry{}), "clock-read");
  EXPECT_STREQ(entry_kind_name(CheckpointEntry{}), "checkpoint");
  EXPECT_STREQ(entry_kind_name(RegistersDigestEntry{}), "registers-digest");
  EXPECT_STREQ(entry_kind_name(MemoryDigestEntry{}), "memory-digest");
  EXPECT_STREQ(entry_kind_name(EndEntry{}), "end");
}

}  // namespace
}  // namespace ftvm::replay
