#include "vmm/devices/cmos_rtc.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "fakes.h"

namespace ftvm {
namespace {

using testing::FakeTimeSource;
using testing::inb;
using testing::outb;

constexpr uint64_t kIndexPort = 0;
constexpr uint64_t kDataPort = 1;
constexpr int64_t kNs = 1'000'000'000;

enum Index : uint8_t {
  kSeconds = 0x00,
  kSecondsAlarm = 0x01,
  kMinutes = 0x02,
  kMinutesAlarm = 0x03,
  kHours = 0x04,
  kHoursAlarm = 0x05,
  kWeekday = 0x06,
  kDay = 0x07,
  kMonth = 0x08,
  kYear = 0x09,
  kA = 0x0a,
  kB = 0x0b,
  kC = 0x0c,
  kD = 0x0d,
  kCentury = 0x32,
};

constexpr uint8_t kPeriodicOff = 0x20;  // register A: 32.768 kHz time base, rate 0
constexpr uint8_t kBSet = 0x80;
constexpr uint8_t kBPeriodic = 0x40;
constexpr uint8_t kBAlarm = 0x20;
constexpr uint8_t kBUpdate = 0x10;
constexpr uint8_t kBBinary = 0x04;
constexpr uint8_t kB24Hour = 0x02;

// Unix times (UTC), computed independently of the model.
constexpr int64_t kSaturday20261121_235958 = 1795305598;
constexpr int64_t k20240228_235959 = 1709164799;
constexpr int64_t k21000228_235959 = 4107542399;
constexpr int64_t k20000228_235959 = 951782399;
constexpr int64_t k20261121_120000 = 1795262400;
constexpr int64_t k20261121_003000 = 1795221000;

struct Fields {
  uint8_t second, minute, hour, weekday, day, month, year, century;
  bool operator==(const Fields&) const = default;
};

std::ostream& operator<<(std::ostream& out, const Fields& f) {
  return out << std::hex << "{sec " << int{f.second} << " min " << int{f.minute} << " hour "
             << int{f.hour} << " wday " << int{f.weekday} << " day " << int{f.day} << " month "
             << int{f.month} << " year " << int{f.year} << " century " << int{f.century} << "}";
}

class RtcTest : public ::testing::Test {
 protected:
  RtcTest() { at(kSaturday20261121_235958); }

  void at(int64_t unix_seconds, int64_t extra_ns = 0) {
    time.realtime = unix_seconds * kNs + extra_ns;
  }
  uint8_t read(uint8_t index) {
    outb(rtc, kIndexPort, index);
    return inb(rtc, kDataPort);
  }
  void write(uint8_t index, uint8_t value) {
    outb(rtc, kIndexPort, index);
    outb(rtc, kDataPort, value);
  }
  Fields fields() {
    return {read(kSeconds), read(kMinutes), read(kHours), read(kWeekday),
            read(kDay),     read(kMonth),   read(kYear),  read(kCentury)};
  }
  void write_fields(const Fields& f) {
    write(kSeconds, f.second);
    write(kMinutes, f.minute);
    write(kHours, f.hour);
    write(kWeekday, f.weekday);
    write(kDay, f.day);
    write(kMonth, f.month);
    write(kYear, f.year);
    write(kCentury, f.century);
  }

  FakeTimeSource time;
  CmosRtc rtc{time};
};

TEST_F(RtcTest, PowerOnRegisters) {
  EXPECT_EQ(read(kA), 0x26);
  EXPECT_EQ(read(kB), 0x02);
  EXPECT_EQ(read(kD), 0x80);
}

TEST_F(RtcTest, KnownDateInBcd24Hour) {
  EXPECT_EQ(fields(), (Fields{0x58, 0x59, 0x23, 0x07, 0x21, 0x11, 0x26, 0x20}));
}

TEST_F(RtcTest, KnownDateInBinary) {
  write(kB, kB24Hour | kBBinary);
  EXPECT_EQ(fields(), (Fields{58, 59, 23, 7, 21, 11, 26, 20}));
}

TEST_F(RtcTest, TimeIsComputedAtEachReadFromTheHostClock) {
  at(kSaturday20261121_235958, 999'999'999);
  EXPECT_EQ(read(kSeconds), 0x58);
  at(kSaturday20261121_235958 + 2);
  // Midnight rolls every field, Saturday becomes Sunday (1).
  EXPECT_EQ(fields(), (Fields{0x00, 0x00, 0x00, 0x01, 0x22, 0x11, 0x26, 0x20}));
  at(kSaturday20261121_235958 + 2 + 40 * 86400);  // into 2027
  EXPECT_EQ(read(kYear), 0x27);
  EXPECT_EQ(read(kMonth), 0x01);
  EXPECT_EQ(read(kDay), 0x01);
}

TEST_F(RtcTest, OnlyDataReadsOfTheClockReadTheHostTime) {
  outb(rtc, kIndexPort, kSeconds);
  EXPECT_EQ(time.realtime_reads, 0);
  inb(rtc, kDataPort);
  EXPECT_EQ(time.realtime_reads, 1);
  read(0x40);
  read(kA);
  EXPECT_EQ(time.realtime_reads, 1);
}

TEST_F(RtcTest, TwelveHourModeBcd) {
  write(kB, 0x00);
  EXPECT_EQ(read(kHours), 0x91);  // 11 PM
  at(k20261121_120000);
  EXPECT_EQ(read(kHours), 0x92);  // noon is 12 PM
  at(k20261121_003000);
  EXPECT_EQ(read(kHours), 0x12);  // half past midnight is 12 AM
  at(k20261121_003000 + 3600);
  EXPECT_EQ(read(kHours), 0x01);
}

TEST_F(RtcTest, TwelveHourModeBinary) {
  write(kB, kBBinary);
  EXPECT_EQ(read(kHours), 0x8b);  // 11 | PM
  at(k20261121_003000);
  EXPECT_EQ(read(kHours), 12);
}

TEST_F(RtcTest, LeapDayInALeapYear) {
  at(k20240228_235959 + 1);
  EXPECT_EQ(read(kMonth), 0x02);
  EXPECT_EQ(read(kDay), 0x29);
  EXPECT_EQ(read(kWeekday), 0x05);  // Thursday
}

TEST_F(RtcTest, CenturyYearsAreLeapOnlyEvery400Years) {
  at(k21000228_235959 + 1);
  EXPECT_EQ(read(kMonth), 0x03);
  EXPECT_EQ(read(kDay), 0x01);
  EXPECT_EQ(read(kCentury), 0x21);
  EXPECT_EQ(read(kYear), 0x00);
  at(k20000228_235959 + 1);
  EXPECT_EQ(read(kMonth), 0x02);
  EXPECT_EQ(read(kDay), 0x29);
  EXPECT_EQ(read(kCentury), 0x20);
}

TEST_F(RtcTest, RegisterAReportsNoUpdateInProgressAndStoresTheRest) {
  write(kA, 0xa3);
  EXPECT_EQ(read(kA), 0x23);
}

TEST_F(RtcTest, RegistersCAndDAreReadOnly) {
  write(kD, 0x00);
  EXPECT_EQ(read(kD), 0x80);
  write(kC, 0xff);
  EXPECT_EQ(read(kC), 0x00);
}

TEST_F(RtcTest, SetFreezesTheTimeRegisters) {
  write(kB, kBSet | kB24Hour);
  at(kSaturday20261121_235958 + 10);
  EXPECT_EQ(read(kSeconds), 0x58);
  EXPECT_EQ(read(kWeekday), 0x07);
  // Nothing was written while frozen: the clock carries on with the host's time.
  write(kB, kB24Hour);
  EXPECT_EQ(read(kSeconds), 0x08);
  EXPECT_EQ(read(kDay), 0x22);
}

TEST_F(RtcTest, GuestSetTimeKeepsRunning) {
  write(kB, kBSet | kB24Hour);
  write_fields({0x00, 0x00, 0x12, 0x03, 0x01, 0x01, 0x30, 0x20});  // 2030-01-01 12:00:00
  at(kSaturday20261121_235958 + 100);
  EXPECT_EQ(read(kHours), 0x12);  // still frozen as written
  write(kB, kB24Hour);
  EXPECT_EQ(fields(), (Fields{0x00, 0x00, 0x12, 0x03, 0x01, 0x01, 0x30, 0x20}));
  at(kSaturday20261121_235958 + 105);
  EXPECT_EQ(read(kSeconds), 0x05);
  EXPECT_EQ(read(kYear), 0x30);
}

TEST_F(RtcTest, WeekdayIsDerivedFromTheDate) {
  write(kB, kBSet | kB24Hour);
  write(kWeekday, 0x05);
  EXPECT_EQ(read(kWeekday), 0x05);  // kept while frozen
  write(kB, kB24Hour);
  EXPECT_EQ(read(kWeekday), 0x07);  // 2026-11-21 is a Saturday
}

TEST_F(RtcTest, WritingATimeRegisterWithoutSetChangesThatField) {
  write(kMinutes, 0x10);
  EXPECT_EQ(fields(), (Fields{0x58, 0x10, 0x23, 0x07, 0x21, 0x11, 0x26, 0x20}));
  at(kSaturday20261121_235958 + 3);
  EXPECT_EQ(read(kMinutes), 0x11);
  EXPECT_EQ(read(kSeconds), 0x01);
}

TEST_F(RtcTest, GuestTimeIn12HourFormat) {
  write(kB, kBSet);
  write(kHours, 0x92);  // 12 PM
  write(kB, 0x00);
  write(kB, kB24Hour);
  EXPECT_EQ(read(kHours), 0x12);
  write(kB, kBSet);
  write(kHours, 0x12);  // 12 AM
  write(kB, 0x00);
  write(kB, kB24Hour);
  EXPECT_EQ(read(kHours), 0x00);
}

TEST_F(RtcTest, SettingSetClearsUpdateInterruptEnable) {
  write(kB, kBUpdate | kB24Hour);
  EXPECT_EQ(read(kB), kBUpdate | kB24Hour);
  write(kB, kBSet | kBUpdate | kB24Hour);
  EXPECT_EQ(read(kB), kBSet | kB24Hour);
}

TEST_F(RtcTest, InvalidGuestTimeIsClampedNotTrusted) {
  write(kB, kBSet | kB24Hour);
  write_fields({0x99, 0x99, 0x99, 0x00, 0x00, 0x99, 0x99, 0x99});
  write(kB, kB24Hour);
  // Seconds 59, minutes 59, hours 23, day 1, month 12, year 9999: a Wednesday.
  EXPECT_EQ(fields(), (Fields{0x59, 0x59, 0x23, 0x04, 0x01, 0x12, 0x99, 0x99}));
}

TEST_F(RtcTest, DayPastTheEndOfTheMonthRollsOver) {
  write(kB, kBSet | kB24Hour);
  write(kMonth, 0x02);
  write(kDay, 0x31);
  write(kB, kB24Hour);
  EXPECT_EQ(read(kMonth), 0x03);
  EXPECT_EQ(read(kDay), 0x03);  // 2026 is not a leap year
}

TEST_F(RtcTest, RegisterCReportsUpdatesAndClearsOnRead) {
  write(kA, kPeriodicOff);
  write(kHoursAlarm, 0x12);  // the power-on alarm, 00:00:00, would match at midnight
  EXPECT_EQ(read(kC), 0x00);
  at(kSaturday20261121_235958, 500'000'000);
  EXPECT_EQ(read(kC), 0x00);
  at(kSaturday20261121_235958 + 1);
  EXPECT_EQ(read(kC), 0x10);  // UF, not enabled: no IRQF
  EXPECT_EQ(read(kC), 0x00);
  write(kB, kBUpdate | kB24Hour);
  at(kSaturday20261121_235958 + 2);
  EXPECT_EQ(read(kC), 0x90);
}

TEST_F(RtcTest, RegisterCReportsPeriodicTicks) {
  write(kA, 0x26);  // 1024 Hz
  read(kC);
  at(kSaturday20261121_235958, 500'000);
  EXPECT_EQ(read(kC), 0x00);
  at(kSaturday20261121_235958, 1'000'000);
  EXPECT_EQ(read(kC), 0x40);
  write(kB, kBPeriodic | kB24Hour);
  at(kSaturday20261121_235958, 2'000'000);
  EXPECT_EQ(read(kC), 0xc0);
  write(kA, kPeriodicOff);
  at(kSaturday20261121_235958, 9'000'000);
  EXPECT_EQ(read(kC), 0x00);
}

TEST_F(RtcTest, RegisterCReportsAlarmMatches) {
  write(kA, kPeriodicOff);
  write(kSecondsAlarm, 0x00);
  write(kMinutesAlarm, 0x00);
  write(kHoursAlarm, 0x00);
  write(kB, kBAlarm | kB24Hour);
  read(kC);
  at(kSaturday20261121_235958 + 1);
  EXPECT_EQ(read(kC), 0x10);  // 23:59:59: update, no alarm
  at(kSaturday20261121_235958 + 5);
  EXPECT_EQ(read(kC), 0xb0);  // passed midnight: alarm, enabled
}

TEST_F(RtcTest, AlarmDontCareMatchesEverySecond) {
  write(kA, kPeriodicOff);
  write(kSecondsAlarm, 0xc0);
  write(kMinutesAlarm, 0xff);
  write(kHoursAlarm, 0xc5);
  read(kC);
  at(kSaturday20261121_235958 + 1);
  EXPECT_EQ(read(kC), 0x30);
}

TEST_F(RtcTest, AlarmFoundAcrossLongGaps) {
  write(kA, kPeriodicOff);
  write(kSecondsAlarm, 0x30);
  write(kMinutesAlarm, 0x15);
  write(kHoursAlarm, 0x07);
  read(kC);
  at(kSaturday20261121_235958 + 7 * 3600);
  EXPECT_EQ(read(kC), 0x10);  // 06:59:58, not yet
  at(kSaturday20261121_235958 + 3 * 86400);
  EXPECT_EQ(read(kC), 0x30);
}

TEST_F(RtcTest, NoUpdatesWhileSetIsHeld) {
  write(kA, kPeriodicOff);
  read(kC);
  write(kB, kBSet | kB24Hour);
  at(kSaturday20261121_235958 + 5);
  EXPECT_EQ(read(kC), 0x00);
}

TEST_F(RtcTest, CmosRamStoresBytes) {
  write(0x40, 0xab);
  write(0x7f, 0xcd);
  EXPECT_EQ(read(0x40), 0xab);
  EXPECT_EQ(read(0x7f), 0xcd);
  EXPECT_EQ(read(0x01), 0x00);  // alarm registers are RAM too
}

TEST_F(RtcTest, IndexBit7IsNmiDisableNotAddress) {
  outb(rtc, kIndexPort, 0x80 | 0x40);
  outb(rtc, kDataPort, 0x11);
  EXPECT_TRUE(rtc.nmi_disabled());
  EXPECT_EQ(read(0x40), 0x11);
  EXPECT_FALSE(rtc.nmi_disabled());
  EXPECT_EQ(inb(rtc, kIndexPort), 0xff);
}

TEST_F(RtcTest, UnknownOffsetsAreHarmless) {
  outb(rtc, 5, 0x12);
  EXPECT_EQ(inb(rtc, 5), 0xff);
}

TEST_F(RtcTest, SaveRestoreKeepsGuestTimeAndRam) {
  write(kB, kBSet | kB24Hour | kBBinary);
  write_fields({0, 0, 12, 3, 1, 1, 30, 20});
  write(kB, kB24Hour | kBBinary);
  write(0x50, 0x99);
  outb(rtc, kIndexPort, kMinutes);

  CmosRtc copy(time);
  copy.restore(rtc.save());
  at(kSaturday20261121_235958 + 61);
  EXPECT_EQ(inb(copy, kDataPort), 1);  // the restored index, the restored guest time
  outb(copy, kIndexPort, 0x50);
  EXPECT_EQ(inb(copy, kDataPort), 0x99);
  outb(copy, kIndexPort, kYear);
  EXPECT_EQ(inb(copy, kDataPort), 30);
}

TEST_F(RtcTest, ArbitraryGuestProgrammingIsDeterministic) {
  auto run = [](uint32_t seed) {
    FakeTimeSource clock;
    clock.realtime = 1'700'000'000 * kNs;
    CmosRtc device(clock);
    std::vector<uint8_t> trace;
    for (int step = 0; step < 20000; ++step) {
      seed = seed * 1664525 + 1013904223;
      uint8_t action = static_cast<uint8_t>(seed >> 24);
      uint8_t value = static_cast<uint8_t>(seed >> 16);
      clock.realtime += static_cast<int64_t>(seed % 4096) * 1'000'000'000;
      if (action & 0x80) {
        // Mostly the clock's own registers, so the interesting paths are taken.
        outb(device, 0, (action & 0x40) ? (value & 0x0f) : (value & 0x40 ? 0x32 : value));
      } else if (action & 0x40) {
        outb(device, 1, value);
      } else {
        trace.push_back(inb(device, action & 1));
      }
    }
    return trace;
  };
  EXPECT_EQ(run(5), run(5));
}

}  // namespace
}  // namespace ftvm
