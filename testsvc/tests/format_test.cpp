#include "kernel/format.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace testsvc::kernel {
namespace {

std::string Decimal(uint64_t value) {
  char out[kMaxDecimalDigits];
  return std::string(out, FormatDecimal(value, out));
}

std::string Hex(uint64_t value, size_t min_digits) {
  char out[kMaxHexDigits];
  return std::string(out, FormatHex(value, min_digits, out));
}

template <size_t N>
std::string Str(const LineBuilder<N>& line) {
  return std::string(line.data(), line.size());
}

TEST(TestsvcFormatDecimal, Values) {
  EXPECT_EQ(Decimal(0), "0");
  EXPECT_EQ(Decimal(7), "7");
  EXPECT_EQ(Decimal(10), "10");
  EXPECT_EQ(Decimal(1234567890), "1234567890");
  EXPECT_EQ(Decimal(UINT64_MAX), "18446744073709551615");
}

TEST(TestsvcFormatHex, PadsToMinimumAndGrowsBeyondIt) {
  EXPECT_EQ(Hex(0, 1), "0");
  EXPECT_EQ(Hex(0, 16), "0000000000000000");
  EXPECT_EQ(Hex(0xabc, 1), "abc");
  EXPECT_EQ(Hex(0xabc, 2), "abc");
  EXPECT_EQ(Hex(0xabc, 6), "000abc");
  EXPECT_EQ(Hex(0xcbf29ce484222325ull, 16), "cbf29ce484222325");
  EXPECT_EQ(Hex(UINT64_MAX, 1), "ffffffffffffffff");
}

TEST(TestsvcFormatHex, ClampsMinimumDigits) {
  EXPECT_EQ(Hex(5, 0), "5");
  EXPECT_EQ(Hex(5, 99), "0000000000000005");
}

TEST(TestsvcFormatDecimal, IsConstexpr) {
  constexpr auto kTen = [] {
    char out[kMaxDecimalDigits] = {};
    return FormatDecimal(1234567890, out);
  }();
  static_assert(kTen == 10);
}

TEST(TestsvcLineBuilder, BuildsStatusLine) {
  LineBuilder<256> line;
  line.Append("status tick=").AppendDecimal(50).Append(" digest=").AppendHex(0x1f, 16);
  EXPECT_EQ(Str(line), "status tick=50 digest=000000000000001f");
  EXPECT_FALSE(line.truncated());
}

TEST(TestsvcLineBuilder, PadsDecimals) {
  LineBuilder<32> line;
  line.AppendDecimalPadded(2024, 4).AppendChar('-').AppendDecimalPadded(5, 2).AppendChar(' ');
  line.AppendDecimalPadded(123, 2);
  EXPECT_EQ(Str(line), "2024-05 123");
}

TEST(TestsvcLineBuilder, TruncatesInsteadOfOverflowing) {
  LineBuilder<8> line;
  line.Append("0123456").AppendDecimal(789);
  EXPECT_EQ(Str(line), "01234567");
  EXPECT_TRUE(line.truncated());
}

TEST(TestsvcStringLength, CountsUpToNul) {
  static_assert(StringLength("") == 0);
  static_assert(StringLength("testsvc: up") == 11);
}

}  // namespace
}  // namespace testsvc::kernel
