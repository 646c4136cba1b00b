#include "replay/trace_header.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <xxhash.h>

#include <limits>

namespace ftvm::replay {
namespace {

using ::testing::HasSubstr;

TraceHeader full_header() {
  TraceHeader header;
  header.guest_name = "testsvc \xe2\x9c\x93";
  header.guest_image_xxh3 = 0xfedcba9876543210;
  header.mem_bytes = 64 << 20;
  for (uint32_t i = 0; i < 40; ++i) {
    header.cpuid.push_back({i, i % 3, 1, 0xffffffff, i * 7, 0, 0x80000000});
  }
  header.max_delay_ns = 1'000'000;
  header.async_mode = "breakpoint";
  header.created_unix_ns = -42;
  header.disk_bytes = 64 << 20;
  header.disk_read_only = true;
  header.disk_serial = "ftvm-disk-0";
  header.accel = "emu";
  header.net_mac = {0x02, 0x46, 0x54, 0x56, 0x4d, 0x01};
  header.interrupt_window = true;
  return header;
}

std::string decode_error(std::span<const uint8_t> bytes) {
  auto decoded = decode_trace_header(bytes);
  return decoded.ok() ? "no error" : decoded.error().message;
}

TEST(TraceHeaderTest, RoundTrips) {
  for (const TraceHeader& header : {TraceHeader{}, full_header()}) {
    auto bytes = encode_trace_header(header);
    ASSERT_TRUE(bytes.ok()) << bytes.error().message;
    auto decoded = decode_trace_header(*bytes);
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    EXPECT_EQ(*decoded, header);
  }
}

TEST(TraceHeaderTest, RoundTripsExtremeValues) {
  TraceHeader header = full_header();
  header.mem_bytes = std::numeric_limits<uint64_t>::max();
  header.max_delay_ns = std::numeric_limits<uint64_t>::max();
  header.created_unix_ns = std::numeric_limits<int64_t>::min();
  header.guest_name = std::string(kMaxGuestNameBytes, 'g');
  header.cpuid.resize(kMaxCpuidLeaves);
  header.disk_bytes = std::numeric_limits<uint64_t>::max();
  header.disk_serial = std::string(kMaxDiskSerialBytes, 's');
  auto bytes = encode_trace_header(header);
  ASSERT_TRUE(bytes.ok());
  auto decoded = decode_trace_header(*bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(*decoded, header);
}

TEST(TraceHeaderTest, ADiskSerialOverTwentyBytesIsRefused) {
  TraceHeader header = full_header();
  header.disk_serial = std::string(kMaxDiskSerialBytes + 1, 's');
  auto bytes = encode_trace_header(header);
  ASSERT_FALSE(bytes.ok());
  EXPECT_NE(bytes.error().message.find("disk serial"), std::string::npos);
}

TEST(TraceHeaderTest, AMacMustBeSixBytes) {
  TraceHeader header = full_header();
  header.net_mac = {1, 2, 3};
  auto bytes = encode_trace_header(header);
  ASSERT_FALSE(bytes.ok());
  EXPECT_NE(bytes.error().message.find("MAC"), std::string::npos);
}

TEST(TraceHeaderTest, StartsWithMagicAndVersion) {
  auto bytes = encode_trace_header(TraceHeader{});
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(std::string(bytes->begin(), bytes->begin() + 8), std::string("FTVMTRC\0", 8));
  EXPECT_EQ((*bytes)[8], kTraceFormatVersion);
}

TEST(TraceHeaderTest, RejectsWrongMagic) {
  auto bytes = *encode_trace_header(full_header());
  bytes[0] = 'X';
  EXPECT_THAT(decode_error(bytes), HasSubstr("not an ftvm trace header: bad magic"));
  const std::string elf =
      "\x7f"
      "ELF";
  EXPECT_THAT(decode_error(std::vector<uint8_t>(elf.begin(), elf.end())), HasSubstr("bad magic"));
}

TEST(TraceHeaderTest, RejectsAnUnknownBackend) {
  TraceHeader header = full_header();
  header.accel = "tcg";
  EXPECT_THAT(decode_error(*encode_trace_header(header)),
              testing::HasSubstr("unknown vCPU backend 'tcg'"));
}

TEST(TraceHeaderTest, RejectsAnInterruptWindowFlagOtherThanZeroOrOne) {
  auto bytes = *encode_trace_header(full_header());
  // The flag is the body's last byte, before the checksum, which is computed again.
  const size_t flag_at = bytes.size() - 9;
  ASSERT_EQ(bytes[flag_at], 1);
  bytes[flag_at] = 2;
  bytes.resize(bytes.size() - 8);
  const uint64_t checksum = XXH3_64bits(bytes.data(), bytes.size());
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<uint8_t>(checksum >> (8 * i)));
  EXPECT_THAT(decode_error(bytes), HasSubstr("interrupt-window flag 0x02 (0 or 1)"));
}

TEST(TraceHeaderTest, RejectsAnUnsupportedVersion) {
  TraceHeader header = full_header();
  header.format_version = 99;
  EXPECT_EQ(decode_error(*encode_trace_header(header)),
            fmt::format("trace format version 99 is not supported by this ftvm (supports {})",
                        kTraceFormatVersion));
}

TEST(TraceHeaderTest, RejectsEveryTruncation) {
  const auto bytes = *encode_trace_header(full_header());
  for (size_t size = 0; size < bytes.size(); ++size) {
    EXPECT_THAT(decode_error(std::span(bytes).first(size)), HasSubstr("truncated"))
        << "size " << size;
  }
}

TEST(TraceHeaderTest, RejectsTrailingBytes) {
  auto bytes = *encode_trace_header(full_header());
  bytes.push_back(0);
  EXPECT_THAT(decode_error(bytes), HasSubstr("1 unexpected bytes after its checksum"));
}

TEST(TraceHeaderTest, EveryFlippedBitIsRejected) {
  const auto bytes = *encode_trace_header(full_header());
  for (size_t bit = 0; bit < bytes.size() * 8; ++bit) {
    auto flipped = bytes;
    flipped[bit / 8] ^= static_cast<uint8_t>(1 << (bit % 8));
    auto decoded = decode_trace_header(flipped);
    EXPECT_FALSE(decoded.ok()) << "bit " << bit;
  }
  auto version_flipped = bytes;
  version_flipped[8] ^= 0x02;
  EXPECT_THAT(decode_error(version_flipped), HasSubstr("checksum mismatch"));
}

TEST(TraceHeaderTest, EncoderRejectsOversizedFields) {
  TraceHeader header;
  header.guest_name = std::string(kMaxGuestNameBytes + 1, 'g');
  EXPECT_FALSE(encode_trace_header(header).ok());
  header = {};
  header.async_mode = std::string(kMaxAsyncModeBytes + 1, 'a');
  EXPECT_FALSE(encode_trace_header(header).ok());
  header = {};
  header.cpuid.resize(kMaxCpuidLeaves + 1);
  EXPECT_FALSE(encode_trace_header(header).ok());
}

}  // namespace
}  // namespace ftvm::replay
