#include "kernel/rtc_decode.h"

#include <gtest/gtest.h>

namespace testsvc::kernel {
namespace {

TEST(TestsvcRtcDecode, BcdTwentyFourHour) {
  const RtcRegisters raw{
      .seconds = 0x59, .minutes = 0x07, .hours = 0x23, .day = 0x31, .month = 0x12, .year = 0x24};
  const DateTime t = DecodeRtc(raw, kRtcStatusB24Hour);
  EXPECT_EQ(t.year, 2024);
  EXPECT_EQ(t.month, 12);
  EXPECT_EQ(t.day, 31);
  EXPECT_EQ(t.hour, 23);
  EXPECT_EQ(t.minute, 7);
  EXPECT_EQ(t.second, 59);
}

TEST(TestsvcRtcDecode, BinaryTwentyFourHour) {
  const RtcRegisters raw{
      .seconds = 59, .minutes = 7, .hours = 23, .day = 31, .month = 12, .year = 24};
  const DateTime t = DecodeRtc(raw, kRtcStatusB24Hour | kRtcStatusBBinary);
  EXPECT_EQ(t.year, 2024);
  EXPECT_EQ(t.hour, 23);
  EXPECT_EQ(t.second, 59);
}

TEST(TestsvcRtcDecode, TwelveHourMode) {
  RtcRegisters raw{.seconds = 0, .minutes = 0, .hours = 0x12, .day = 1, .month = 1, .year = 0};
  EXPECT_EQ(DecodeRtc(raw, 0).hour, 0);  // 12 AM
  raw.hours = 0x12 | kRtcHoursPm;
  EXPECT_EQ(DecodeRtc(raw, 0).hour, 12);  // 12 PM
  raw.hours = 0x01 | kRtcHoursPm;
  EXPECT_EQ(DecodeRtc(raw, 0).hour, 13);
  raw.hours = 11 | kRtcHoursPm;
  EXPECT_EQ(DecodeRtc(raw, kRtcStatusBBinary).hour, 23);
}

TEST(TestsvcRtcDecode, UsesACenturyRegisterOnlyWhenPlausible) {
  RtcRegisters raw{.day = 1, .month = 1, .year = 0x99, .century = 0x19};
  EXPECT_EQ(DecodeRtc(raw, kRtcStatusB24Hour).year, 1999);
  raw.century = 0x21;
  EXPECT_EQ(DecodeRtc(raw, kRtcStatusB24Hour).year, 2199);
  raw.century = 20;  // binary mode
  raw.year = 24;
  EXPECT_EQ(DecodeRtc(raw, kRtcStatusB24Hour | kRtcStatusBBinary).year, 2024);
  raw.year = 0x99;
  raw.century = 0xff;  // no such register
  EXPECT_EQ(DecodeRtc(raw, kRtcStatusB24Hour).year, 2099);
  raw.century = 0;
  EXPECT_EQ(DecodeRtc(raw, kRtcStatusB24Hour).year, 2099);
}

TEST(TestsvcRtcDecode, BcdToBinary) {
  static_assert(BcdToBinary(0x00) == 0);
  static_assert(BcdToBinary(0x09) == 9);
  static_assert(BcdToBinary(0x10) == 10);
  static_assert(BcdToBinary(0x99) == 99);
}

}  // namespace
}  // namespace testsvc::kernel
