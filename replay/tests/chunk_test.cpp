#include "replay/chunk.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "replay/format_version.h"
#include "test_support.h"

namespace ftvm::replay {
namespace {

using testing::encode_log;
using testing::entries_of;
using testing::fix_chunk_checksum;
using ::testing::HasSubstr;
using testing::mixed_entries;
using testing::sync_at;

constexpr size_t kPayloadLengthAt = 8;
constexpr size_t kPayloadLengthBytes = 4;

std::string parse_error(std::span<const uint8_t> log) {
  auto parsed = parse_log(log);
  return parsed.ok() ? "no error" : parsed.error().message;
}

TEST(ChunkTest, HeaderLayout) {
  const std::vector<TraceEntry> entries = {TimerEntry{sync_at(10), 1}, TimerEntry{sync_at(20), 1}};
  auto chunk = encode_chunk(entries, 0x0102030405060708);
  ASSERT_TRUE(chunk.ok());
  ASSERT_GE(chunk->size(), kChunkHeaderBytes);
  const auto& b = *chunk;
  EXPECT_EQ(std::string(b.begin(), b.begin() + 4), "FTCK");
  EXPECT_EQ(b[4] | b[5] << 8, static_cast<int>(kTraceFormatVersion));
  EXPECT_EQ(b[6] | b[7] << 8, 0);
  EXPECT_EQ(static_cast<size_t>(b[8] | b[9] << 8), b.size() - kChunkHeaderBytes);
  EXPECT_EQ(b[12], 0x08);
  EXPECT_EQ(b[19], 0x01);
  EXPECT_EQ(b[20], 2);
  EXPECT_EQ(b.size(), kChunkHeaderBytes + 6);  // two 3-byte timer ticks
}

TEST(ChunkTest, RoundTripsAChunkAtAnyLsn) {
  const auto entries = mixed_entries(100);
  auto chunk = encode_chunk(entries, 5000);
  ASSERT_TRUE(chunk.ok());
  auto step = parse_chunk(*chunk, 0, 5000);
  ASSERT_TRUE(step.ok()) << step.error().message;
  const auto& decoded = std::get<DecodedChunk>(*step);
  EXPECT_EQ(decoded.info.first_lsn, 5000u);
  EXPECT_EQ(decoded.info.entry_count, entries.size());
  EXPECT_EQ(decoded.info.total_bytes(), chunk->size());
  EXPECT_EQ(entries_of(decoded.entries), entries);
  uint64_t encoded = 0;
  for (size_t i = 0; i < decoded.entries.size(); ++i) {
    EXPECT_EQ(decoded.entries[i].lsn, 5000 + i);
    encoded += decoded.entries[i].encoded_bytes;
  }
  EXPECT_EQ(encoded, decoded.info.payload_bytes);
}

TEST(ChunkTest, BuilderNumbersChunksContinuously) {
  ChunkBuilder builder;
  std::vector<uint8_t> log;
  const auto entries = mixed_entries(50);
  for (size_t i = 0; i < entries.size(); ++i) {
    ASSERT_TRUE(builder.add(entries[i]).ok());
    if (i % 7 == 6) {
      auto chunk = builder.finish();
      log.insert(log.end(), chunk.begin(), chunk.end());
    }
  }
  EXPECT_EQ(builder.next_lsn(), entries.size());
  auto last = builder.finish();
  log.insert(log.end(), last.begin(), last.end());
  EXPECT_TRUE(builder.empty());

  auto parsed = parse_log(log);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(entries_of(parsed->entries), entries);
  EXPECT_EQ(parsed->chunks.size(), (entries.size() + 6) / 7);
  EXPECT_FALSE(parsed->torn_tail);
}

TEST(ChunkTest, EmptyLogHasNoEntries) {
  auto parsed = parse_log({});
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->entries.empty());
  EXPECT_FALSE(parsed->torn_tail);
}

// Cutting the log anywhere inside its last chunk (a write torn by a crash) loses that chunk
// only, and says so.
TEST(ChunkTest, TruncationAnywhereInTheLastChunkIsATornTail) {
  const auto entries = mixed_entries(60);
  std::vector<size_t> offsets;
  const auto log = encode_log(entries, 16, &offsets);
  const size_t last = offsets.back();
  const std::vector<TraceEntry> before_last(entries.begin(), entries.begin() + 48);
  for (size_t size = last; size < log.size(); ++size) {
    auto parsed = parse_log(std::span(log).first(size));
    ASSERT_TRUE(parsed.ok()) << "size " << size << ": " << parsed.error().message;
    EXPECT_EQ(entries_of(parsed->entries), before_last) << "size " << size;
    EXPECT_EQ(parsed->torn_tail.has_value(), size != last) << "size " << size;
    if (parsed->torn_tail) {
      EXPECT_THAT(*parsed->torn_tail, HasSubstr(fmt::format("byte offset {}", last)));
      EXPECT_THAT(*parsed->torn_tail, HasSubstr("LSN 48"));
    }
  }
}

TEST(ChunkTest, TrailingZerosAreATornTail) {
  const auto entries = mixed_entries(20);
  auto log = encode_log(entries, 8);
  log.resize(log.size() + 4096, 0);
  auto parsed = parse_log(log);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(entries_of(parsed->entries), entries);
  ASSERT_TRUE(parsed->torn_tail);
  EXPECT_THAT(*parsed->torn_tail, HasSubstr("4096 zero bytes"));
}

// Decision (docs/trace-format.md): a flipped bit is corruption everywhere, except in the
// payload length of the last chunk, where a larger length reads as a torn tail: the bytes it
// claims are simply not there, as after a torn write. A smaller length fails the checksum.
TEST(ChunkTest, AFlippedBitAnywhereIsCorruptionOrATornLastChunk) {
  const auto entries = mixed_entries(30);
  std::vector<size_t> offsets;
  const auto log = encode_log(entries, 8, &offsets);
  const size_t last_length_field = offsets.back() + kPayloadLengthAt;
  const std::vector<TraceEntry> before_last(entries.begin(),
                                            entries.begin() + static_cast<ptrdiff_t>(24));
  for (size_t bit = 0; bit < log.size() * 8; ++bit) {
    auto flipped = log;
    flipped[bit / 8] ^= static_cast<uint8_t>(1 << (bit % 8));
    auto parsed = parse_log(flipped);
    const size_t byte = bit / 8;
    if (parsed.ok()) {
      EXPECT_GE(byte, last_length_field) << "bit " << bit;
      EXPECT_LT(byte, last_length_field + kPayloadLengthBytes) << "bit " << bit;
      EXPECT_TRUE(parsed->torn_tail) << "bit " << bit;
      EXPECT_EQ(entries_of(parsed->entries), before_last) << "bit " << bit;
    } else {
      EXPECT_THAT(parsed.error().message, HasSubstr("corrupt chunk at byte offset"));
    }
  }
}

TEST(ChunkTest, ACorruptLengthInTheMiddleIsNotMistakenForATornTail) {
  const auto entries = mixed_entries(30);
  std::vector<size_t> offsets;
  auto log = encode_log(entries, 8, &offsets);
  log[offsets[1] + kPayloadLengthAt + 2] ^= 0x01;  // +64 KiB: past the end of the log
  const std::string error = parse_error(log);
  EXPECT_THAT(error, HasSubstr(fmt::format("corrupt chunk at byte offset {}", offsets[1])));
  EXPECT_THAT(error, HasSubstr("length field"));
  EXPECT_THAT(error, HasSubstr(fmt::format("follows at byte offset {}", offsets[2])));
}

TEST(ChunkTest, ErrorsNameTheOffsetAndLsn) {
  const auto entries = mixed_entries(30);
  std::vector<size_t> offsets;
  auto log = encode_log(entries, 8, &offsets);
  log[offsets[2] + kChunkHeaderBytes + 3] ^= 0x10;
  const std::string error = parse_error(log);
  EXPECT_THAT(error, HasSubstr(fmt::format("corrupt chunk at byte offset {}", offsets[2])));
  EXPECT_THAT(error, HasSubstr("LSN 16"));
  EXPECT_THAT(error, HasSubstr("checksum mismatch"));
}

TEST(ChunkTest, RejectsBadMagic) {
  auto log = encode_log(mixed_entries(5), 8);
  log[1] = 'X';
  EXPECT_THAT(parse_error(log), HasSubstr("bad magic \"FXCK\""));
  EXPECT_THAT(parse_error(std::vector<uint8_t>{'F', 'T', 0x01}), HasSubstr("bad magic"));
}

TEST(ChunkTest, RejectsAnUnsupportedVersion) {
  auto log = encode_log(mixed_entries(5), 8);
  log[4] = kTraceFormatVersion + 1;
  fix_chunk_checksum(log, 0);
  EXPECT_THAT(parse_error(log),
              HasSubstr(fmt::format("chunk format version {} is not supported by this ftvm "
                                    "(supports {})",
                                    kTraceFormatVersion + 1, kTraceFormatVersion)));
}

TEST(ChunkTest, RejectsUnknownFlags) {
  auto log = encode_log(mixed_entries(5), 8);
  log[6] = 1;
  fix_chunk_checksum(log, 0);
  EXPECT_THAT(parse_error(log), HasSubstr("unknown chunk flags"));
}

TEST(ChunkTest, RejectsAnLsnThatDoesNotFollow) {
  const auto entries = mixed_entries(10);
  auto first = encode_chunk(std::span(entries).first(4), 0);
  auto skipping = encode_chunk(std::span(entries).subspan(4), 5);
  std::vector<uint8_t> log = *first;
  log.insert(log.end(), skipping->begin(), skipping->end());
  const std::string error = parse_error(log);
  EXPECT_THAT(error, HasSubstr(fmt::format("byte offset {}", first->size())));
  EXPECT_THAT(error, HasSubstr("starts at LSN 5"));
  EXPECT_THAT(error, HasSubstr("before LSN 4"));
}

TEST(ChunkTest, RejectsAnEntryCountThatDoesNotMatch) {
  auto log = encode_log(mixed_entries(5), 8);  // 6 entries with the end entry
  auto more = log;
  more[20] = 7;
  fix_chunk_checksum(more, 0);
  EXPECT_THAT(parse_error(more), HasSubstr("only 6 entries, the header says 7"));
  auto fewer = log;
  fewer[20] = 5;
  fix_chunk_checksum(fewer, 0);
  EXPECT_THAT(parse_error(fewer), HasSubstr("bytes left over after the chunk's 5 entries"));
}

TEST(ChunkTest, RejectsTrailingGarbageInThePayload) {
  auto log = encode_log(mixed_entries(5), 8);
  log.push_back(0x01);
  const uint32_t payload = (log[8] | log[9] << 8 | log[10] << 16 | log[11] << 24) + 1;
  for (int i = 0; i < 4; ++i) log[8 + i] = static_cast<uint8_t>(payload >> (8 * i));
  fix_chunk_checksum(log, 0);
  EXPECT_THAT(parse_error(log), HasSubstr("1 bytes left over"));
}

TEST(ChunkTest, RejectsAPayloadLengthOverTheMaximumAtOnce) {
  auto log = encode_log(mixed_entries(5), 8);
  log[11] = 0x7f;
  auto step = parse_chunk(std::span(log).first(kChunkHeaderBytes), 0, 0);
  ASSERT_FALSE(step.ok());
  EXPECT_THAT(step.error().message, HasSubstr("exceeds the maximum"));
}

TEST(ChunkTest, ReportsEntryErrorsWithTheirLsn) {
  std::vector<uint8_t> log = *encode_chunk(
      std::vector<TraceEntry>{TimerEntry{sync_at(1), 0}, TimerEntry{sync_at(2), 0}}, 0);
  log[kChunkHeaderBytes + 3] = 0x0f;  // the second entry's type byte
  fix_chunk_checksum(log, 0);
  const std::string error = parse_error(log);
  EXPECT_THAT(error, HasSubstr("entry LSN 1"));
  EXPECT_THAT(error, HasSubstr("unknown entry type 15"));
  EXPECT_THAT(error, HasSubstr(fmt::format("at byte {}", kChunkHeaderBytes + 3)));
}

TEST(ChunkParserTest, YieldsTheSameChunksFedByteByByte) {
  const auto entries = mixed_entries(100);
  const auto log = encode_log(entries, 16);
  ChunkParser parser;
  std::vector<TraceEntry> streamed;
  for (uint8_t byte : log) {
    parser.feed(std::span(&byte, 1));
    auto chunk = parser.next();
    ASSERT_TRUE(chunk.ok()) << chunk.error().message;
    if (*chunk) {
      for (const auto& e : (*chunk)->entries) streamed.push_back(e.entry);
      EXPECT_FALSE(parser.incomplete());
    } else {
      ASSERT_TRUE(parser.incomplete());
      EXPECT_EQ(parser.incomplete()->first_lsn, parser.next_lsn());
    }
  }
  EXPECT_EQ(streamed, entries);
  EXPECT_EQ(parser.next_lsn(), entries.size());
  EXPECT_EQ(parser.offset(), log.size());
}

TEST(ChunkParserTest, ReportsTheChunkItWaitsFor) {
  const auto log = encode_log(mixed_entries(10), 100);
  ChunkParser parser(0, 4096);
  parser.feed(std::span(log).first(40));
  auto chunk = parser.next();
  ASSERT_TRUE(chunk.ok());
  EXPECT_FALSE(*chunk);
  auto waiting = parser.incomplete();
  ASSERT_TRUE(waiting);
  EXPECT_TRUE(waiting->header_complete);
  EXPECT_EQ(waiting->offset, 4096u);
  EXPECT_EQ(waiting->present_bytes, 40u);
  EXPECT_EQ(waiting->total_bytes, log.size());
  EXPECT_THAT(describe_incomplete_chunk(*waiting), HasSubstr("40 of its"));
}

TEST(ChunkParserTest, ErrorsAreSticky) {
  auto log = encode_log(mixed_entries(10), 4);
  log[0] = 'X';
  ChunkParser parser;
  parser.feed(log);
  auto first = parser.next();
  ASSERT_FALSE(first.ok());
  parser.feed(encode_log(mixed_entries(10), 4));
  auto second = parser.next();
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(first.error().message, second.error().message);
}

}  // namespace
}  // namespace ftvm::replay
