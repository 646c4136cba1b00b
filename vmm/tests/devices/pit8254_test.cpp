#include "vmm/devices/pit8254.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "fakes.h"
#include "testsvc/abi.h"

namespace ftvm {
namespace {

using testing::FakeTimeSource;
using testing::inb;
using testing::outb;
using testing::RecordingIrqSink;

constexpr uint64_t kControl = 3;
constexpr uint64_t kHz = testsvc::abi::kPitInputHz;
constexpr uint64_t kStart = 5'000'000'000;  // an arbitrary monotonic time for the first load

// The first nanosecond after a load at which `ticks` input clocks have elapsed.
uint64_t ns_for_ticks(uint64_t ticks) {
  return (ticks * 1'000'000'000 + kHz - 1) / kHz;
}

uint8_t control_word(uint8_t channel, uint8_t access, uint8_t mode, bool bcd = false) {
  return static_cast<uint8_t>(channel << 6 | access << 4 | mode << 1 | bcd);
}

class PitTest : public ::testing::Test {
 protected:
  PitTest() { time.monotonic = kStart; }

  // Programs `channel` in lobyte-then-hibyte mode and loads `count` now.
  void program(uint8_t channel, uint8_t mode, uint16_t count) {
    outb(pit, kControl, control_word(channel, 3, mode));
    outb(pit, channel, static_cast<uint8_t>(count));
    outb(pit, channel, static_cast<uint8_t>(count >> 8));
  }
  void at_ticks(uint64_t ticks) { time.monotonic = kStart + ns_for_ticks(ticks); }
  uint16_t read_count(uint8_t channel) {
    uint8_t low = inb(pit, channel);
    return static_cast<uint16_t>(low | inb(pit, channel) << 8);
  }
  uint16_t latch_and_read(uint8_t channel) {
    outb(pit, kControl, static_cast<uint8_t>(channel << 6));
    return read_count(channel);
  }
  uint8_t read_status(uint8_t channel) {
    outb(pit, kControl, static_cast<uint8_t>(0xe0 | 2 << channel));
    return inb(pit, channel);
  }

  FakeTimeSource time;
  RecordingIrqSink irqs;
  Pit8254 pit{time, IrqLine(irqs, 0)};
};

TEST_F(PitTest, Mode0CountsDownFromTheLoadTime) {
  program(0, 0, 1000);
  EXPECT_EQ(latch_and_read(0), 1000);
  at_ticks(100);
  EXPECT_EQ(latch_and_read(0), 900);
  at_ticks(999);
  EXPECT_EQ(latch_and_read(0), 1);
}

TEST_F(PitTest, Mode0KeepsCountingThroughZero) {
  program(0, 0, 1000);
  at_ticks(1005);
  EXPECT_EQ(latch_and_read(0), 65531);
}

TEST_F(PitTest, Mode0ScheduleIsOneShotAtTerminalCount) {
  program(0, 0, 1000);
  PitTimerSchedule schedule = pit.timer_schedule();
  EXPECT_TRUE(schedule.armed);
  EXPECT_EQ(schedule.first_expiry_ns, kStart + ns_for_ticks(1000));
  EXPECT_EQ(schedule.period_ns, 0u);
}

TEST_F(PitTest, Mode0ExpiryRaisesOutOnce) {
  program(0, 0, 1000);
  uint64_t generation = pit.timer_schedule().generation;
  pit.expire(generation);
  EXPECT_TRUE(irqs.level(0));
  EXPECT_EQ(irqs.rising_edges(0), 1);
  EXPECT_FALSE(pit.timer_schedule().armed);
  pit.expire(generation);
  EXPECT_EQ(irqs.rising_edges(0), 1);
  EXPECT_TRUE(irqs.level(0));
}

TEST_F(PitTest, Mode0NewCountDropsOut) {
  program(0, 0, 1000);
  pit.expire(pit.timer_schedule().generation);
  ASSERT_TRUE(irqs.level(0));
  program(0, 0, 500);
  EXPECT_FALSE(irqs.level(0));
  EXPECT_TRUE(pit.timer_schedule().armed);
  pit.expire(pit.timer_schedule().generation);
  EXPECT_EQ(irqs.rising_edges(0), 2);
}

TEST_F(PitTest, Mode0FirstByteOfTwoStopsCounting) {
  program(0, 0, 1000);
  uint64_t generation = pit.timer_schedule().generation;
  outb(pit, 0, 0x10);
  EXPECT_FALSE(pit.timer_schedule().armed);
  pit.expire(generation);
  EXPECT_EQ(irqs.rising_edges(0), 0);
  outb(pit, 0, 0x00);
  EXPECT_TRUE(pit.timer_schedule().armed);
  EXPECT_EQ(latch_and_read(0), 0x10);
}

TEST_F(PitTest, Mode2RateGeneratorCountsAndReloads) {
  program(0, 2, 100);
  EXPECT_EQ(latch_and_read(0), 100);
  at_ticks(99);
  EXPECT_EQ(latch_and_read(0), 1);
  at_ticks(100);
  EXPECT_EQ(latch_and_read(0), 100);
  at_ticks(250);
  EXPECT_EQ(latch_and_read(0), 50);
}

TEST_F(PitTest, Mode2OutDropsForOneTickPerPeriod) {
  program(0, 2, 100);
  at_ticks(98);
  EXPECT_EQ(read_status(0) & 0x80, 0x80);
  at_ticks(99);
  EXPECT_EQ(read_status(0) & 0x80, 0x00);
  at_ticks(100);
  EXPECT_EQ(read_status(0) & 0x80, 0x80);
}

TEST_F(PitTest, TickRateDivisorGivesTenMillisecondPeriod) {
  program(0, 2, 11932);
  PitTimerSchedule schedule = pit.timer_schedule();
  EXPECT_TRUE(schedule.armed);
  EXPECT_NEAR(static_cast<double>(schedule.period_ns), 10'000'000.0, 200.0);
  EXPECT_EQ(schedule.first_expiry_ns, kStart + schedule.period_ns);
}

TEST_F(PitTest, PeriodicExpiryPulsesIrq0) {
  program(0, 2, 11932);
  uint64_t generation = pit.timer_schedule().generation;
  pit.expire(generation);
  pit.expire(generation);
  EXPECT_EQ(irqs.rising_edges(0), 2);
  EXPECT_FALSE(irqs.level(0));
  EXPECT_TRUE(pit.timer_schedule().armed);
}

TEST_F(PitTest, StaleGenerationIsIgnored) {
  program(0, 2, 11932);
  uint64_t old_generation = pit.timer_schedule().generation;
  program(0, 2, 5966);
  EXPECT_NE(pit.timer_schedule().generation, old_generation);
  pit.expire(old_generation);
  EXPECT_EQ(irqs.rising_edges(0), 0);
  pit.expire(pit.timer_schedule().generation);
  EXPECT_EQ(irqs.rising_edges(0), 1);
}

TEST_F(PitTest, EveryReprogrammingOfChannel0ChangesTheGeneration) {
  uint64_t generation = pit.timer_schedule().generation;
  outb(pit, kControl, control_word(0, 3, 2));
  EXPECT_GT(pit.timer_schedule().generation, generation);
  generation = pit.timer_schedule().generation;
  outb(pit, 0, 0x9c);
  outb(pit, 0, 0x2e);
  EXPECT_GT(pit.timer_schedule().generation, generation);
  generation = pit.timer_schedule().generation;
  latch_and_read(0);   // reading is not reprogramming
  program(2, 2, 100);  // nor is programming another channel
  EXPECT_EQ(pit.timer_schedule().generation, generation);
}

TEST_F(PitTest, ControlWordDisarmsUntilTheCountIsWritten) {
  program(0, 2, 100);
  outb(pit, kControl, control_word(0, 3, 2));
  EXPECT_FALSE(pit.timer_schedule().armed);
  pit.expire(pit.timer_schedule().generation);
  EXPECT_EQ(irqs.rising_edges(0), 0);
}

TEST_F(PitTest, Mode3SquareWaveEvenCount) {
  program(0, 3, 10);
  const uint16_t expected[] = {10, 8, 6, 4, 2, 10, 8, 6, 4, 2, 10};
  for (uint64_t tick = 0; tick < std::size(expected); ++tick) {
    at_ticks(tick);
    EXPECT_EQ(latch_and_read(0), expected[tick]) << "tick " << tick;
  }
}

TEST_F(PitTest, Mode3SquareWaveOddCount) {
  program(0, 3, 5);
  const uint16_t expected[] = {5, 4, 2, 5, 2, 5};
  const bool out[] = {true, true, true, false, false, true};
  for (uint64_t tick = 0; tick < std::size(expected); ++tick) {
    at_ticks(tick);
    EXPECT_EQ(read_status(0) & 0x80, out[tick] ? 0x80 : 0) << "tick " << tick;
    EXPECT_EQ(latch_and_read(0), expected[tick]) << "tick " << tick;
  }
}

TEST_F(PitTest, Mode3ScheduleAndExpiry) {
  program(0, 3, 11932);
  PitTimerSchedule schedule = pit.timer_schedule();
  EXPECT_TRUE(schedule.armed);
  EXPECT_EQ(schedule.period_ns, ns_for_ticks(11932));
  pit.expire(schedule.generation);
  EXPECT_EQ(irqs.rising_edges(0), 1);
}

TEST_F(PitTest, LatchHoldsTheValueWhileTimeAdvances) {
  program(0, 2, 1000);
  at_ticks(100);
  outb(pit, kControl, 0x00);
  at_ticks(600);
  EXPECT_EQ(read_count(0), 900);
  EXPECT_EQ(read_count(0), 400);  // the latch was released by the read
}

TEST_F(PitTest, LaterLatchCommandsWaitForTheFirstToBeRead) {
  program(0, 2, 1000);
  at_ticks(100);
  outb(pit, kControl, 0x00);
  at_ticks(200);
  outb(pit, kControl, 0x00);
  EXPECT_EQ(read_count(0), 900);
}

TEST_F(PitTest, LatchingReadsTheClockAndReadingTheLatchDoesNot) {
  outb(pit, kControl, control_word(0, 3, 2));
  EXPECT_EQ(time.monotonic_reads, 0);
  outb(pit, 0, 100);
  EXPECT_EQ(time.monotonic_reads, 0);  // only the full count loads
  outb(pit, 0, 0);
  EXPECT_EQ(time.monotonic_reads, 1);
  outb(pit, kControl, 0x00);
  EXPECT_EQ(time.monotonic_reads, 2);
  read_count(0);
  EXPECT_EQ(time.monotonic_reads, 2);
}

TEST_F(PitTest, LobyteThenHibyteOrder) {
  program(0, 2, 0x1234);
  outb(pit, kControl, 0x00);
  EXPECT_EQ(inb(pit, 0), 0x34);
  EXPECT_EQ(inb(pit, 0), 0x12);
}

TEST_F(PitTest, UnlatchedReadsAlternateLowAndHighBytes) {
  program(0, 2, 0x1234);
  at_ticks(0x10);
  EXPECT_EQ(inb(pit, 0), 0x24);
  EXPECT_EQ(inb(pit, 0), 0x12);
  EXPECT_EQ(inb(pit, 0), 0x24);
}

TEST_F(PitTest, LobyteOnlyAccess) {
  outb(pit, kControl, control_word(0, 1, 2));
  outb(pit, 0, 0x80);
  EXPECT_EQ(pit.timer_schedule().period_ns, ns_for_ticks(0x80));
  at_ticks(0x10);
  EXPECT_EQ(inb(pit, 0), 0x70);
  EXPECT_EQ(inb(pit, 0), 0x70);
  outb(pit, kControl, 0x00);
  EXPECT_EQ(inb(pit, 0), 0x70);
}

TEST_F(PitTest, HibyteOnlyAccess) {
  outb(pit, kControl, control_word(0, 2, 2));
  outb(pit, 0, 0x02);
  EXPECT_EQ(pit.timer_schedule().period_ns, ns_for_ticks(0x200));
  at_ticks(0x100);
  EXPECT_EQ(inb(pit, 0), 0x01);
  EXPECT_EQ(inb(pit, 0), 0x01);
}

TEST_F(PitTest, InitialCountZeroMeans65536) {
  program(0, 2, 0);
  EXPECT_EQ(latch_and_read(0), 0);
  at_ticks(1);
  EXPECT_EQ(latch_and_read(0), 65535);
  at_ticks(65535);
  EXPECT_EQ(latch_and_read(0), 1);
  EXPECT_EQ(pit.timer_schedule().period_ns, ns_for_ticks(65536));
  EXPECT_NEAR(static_cast<double>(pit.timer_schedule().period_ns), 54'925'000.0, 1000.0);
}

TEST_F(PitTest, ReadBackLatchesStatusThenCount) {
  program(0, 2, 1000);
  at_ticks(10);
  outb(pit, kControl, 0xc2);  // count and status of channel 0
  at_ticks(500);
  // OUT high, count loaded, lobyte/hibyte, mode 2, binary.
  EXPECT_EQ(inb(pit, 0), 0xb4);
  EXPECT_EQ(read_count(0), 990);
}

TEST_F(PitTest, StatusReportsNullCountUntilTheCountIsWritten) {
  outb(pit, kControl, control_word(0, 3, 0));
  EXPECT_EQ(read_status(0), 0x70);  // OUT low (mode 0), null count, lobyte/hibyte, mode 0
  outb(pit, 0, 0x10);
  outb(pit, 0, 0x00);
  EXPECT_EQ(read_status(0), 0x30);
  at_ticks(0x10);
  EXPECT_EQ(read_status(0), 0xb0);  // terminal count reached: OUT high
}

TEST_F(PitTest, ReadBackCanLatchSeveralChannels) {
  program(0, 2, 1000);
  program(1, 2, 2000);
  program(2, 2, 3000);
  at_ticks(100);
  outb(pit, kControl, 0xde);  // counts only, channels 0-2
  at_ticks(700);
  EXPECT_EQ(read_count(0), 900);
  EXPECT_EQ(read_count(1), 1900);
  EXPECT_EQ(read_count(2), 2900);
}

TEST_F(PitTest, ReadBackStatusOnlyLeavesCountLive) {
  program(1, 3, 1000);
  outb(pit, kControl, 0xe4);  // status only, channel 1
  at_ticks(100);
  EXPECT_EQ(inb(pit, 1), 0xb6);  // OUT high, lobyte/hibyte, mode 3
  EXPECT_EQ(read_count(1), 800);
}

TEST_F(PitTest, Channels1And2CountWithoutRaisingIrqs) {
  program(1, 2, 500);
  program(2, 3, 1000);
  at_ticks(100);
  EXPECT_EQ(latch_and_read(1), 400);
  EXPECT_EQ(latch_and_read(2), 800);
  EXPECT_TRUE(irqs.changes.empty());
  EXPECT_FALSE(pit.timer_schedule().armed);
}

TEST_F(PitTest, BcdIsReportedButCountsAreBinary) {
  outb(pit, kControl, control_word(0, 3, 2, true));
  outb(pit, 0, 0x00);
  outb(pit, 0, 0x01);
  EXPECT_EQ(pit.timer_schedule().period_ns, ns_for_ticks(256));
  EXPECT_EQ(read_status(0) & 0x01, 0x01);
}

TEST_F(PitTest, Mode4StrobesOutOnceAtTerminalCount) {
  program(0, 4, 100);
  PitTimerSchedule schedule = pit.timer_schedule();
  EXPECT_EQ(schedule.period_ns, 0u);
  pit.expire(schedule.generation);
  pit.expire(schedule.generation);
  EXPECT_EQ(irqs.rising_edges(0), 1);
  EXPECT_FALSE(irqs.level(0));
  at_ticks(100);
  EXPECT_EQ(read_status(0) & 0x80, 0x00);  // the strobe tick
  at_ticks(101);
  EXPECT_EQ(read_status(0) & 0x80, 0x80);
}

TEST_F(PitTest, Mode1StartsOnTheCountWriteAndBehavesLikeMode0) {
  program(0, 1, 100);
  at_ticks(40);
  EXPECT_EQ(latch_and_read(0), 60);
  EXPECT_EQ(pit.timer_schedule().period_ns, 0u);
  pit.expire(pit.timer_schedule().generation);
  EXPECT_TRUE(irqs.level(0));
}

TEST_F(PitTest, Modes6And7AreModes2And3) {
  program(0, 6, 100);
  at_ticks(150);
  EXPECT_EQ(latch_and_read(0), 50);
  EXPECT_EQ(pit.timer_schedule().period_ns, ns_for_ticks(100));
  EXPECT_EQ(read_status(0) & 0x0e, 0x0c);  // status shows the mode as written
  program(0, 7, 100);
  at_ticks(160);  // 10 ticks after the load at tick 150
  EXPECT_EQ(latch_and_read(0), 80);
}

TEST_F(PitTest, ControlPortAndUnknownOffsetsReadAllOnes) {
  EXPECT_EQ(inb(pit, kControl), 0xff);
  EXPECT_EQ(inb(pit, 9), 0xff);
  outb(pit, 9, 0x34);  // ignored
  EXPECT_TRUE(irqs.changes.empty());
}

TEST_F(PitTest, ClockGoingBackwardsReadsTheInitialCount) {
  program(0, 2, 1000);
  time.monotonic = kStart - 1000;
  EXPECT_EQ(latch_and_read(0), 1000);
}

TEST_F(PitTest, SaveRestoreRoundTrip) {
  program(0, 2, 1000);
  program(2, 0, 3000);
  at_ticks(100);
  outb(pit, kControl, 0x00);  // a pending latch is part of the state

  RecordingIrqSink other_irqs;
  Pit8254 copy(time, IrqLine(other_irqs, 0));
  copy.restore(pit.save());
  at_ticks(300);
  EXPECT_EQ(read_count(0), 900);
  outb(copy, kControl, 0x80);
  EXPECT_EQ(static_cast<uint16_t>(inb(copy, 2) | inb(copy, 2) << 8), 2700);
  uint8_t low = inb(copy, 0);
  EXPECT_EQ(static_cast<uint16_t>(low | inb(copy, 0) << 8), 900);
  PitTimerSchedule original = pit.timer_schedule();
  PitTimerSchedule restored = copy.timer_schedule();
  EXPECT_EQ(restored.first_expiry_ns, original.first_expiry_ns);
  EXPECT_EQ(restored.period_ns, original.period_ns);
  EXPECT_EQ(restored.generation, original.generation);
  EXPECT_TRUE(other_irqs.changes.empty());
}

TEST_F(PitTest, ArbitraryGuestProgrammingIsDeterministic) {
  auto run = [](uint32_t seed) {
    FakeTimeSource clock;
    RecordingIrqSink sink;
    Pit8254 device(clock, IrqLine(sink, 0));
    std::vector<uint64_t> trace;
    for (int step = 0; step < 20000; ++step) {
      seed = seed * 1664525 + 1013904223;
      uint8_t action = static_cast<uint8_t>(seed >> 24);
      uint8_t value = static_cast<uint8_t>(seed >> 16);
      clock.monotonic += seed % 5000;
      uint64_t port = action & 7;
      if (action & 0x80) {
        outb(device, port, value);
      } else if (action & 0x40) {
        trace.push_back(inb(device, port));
      } else {
        PitTimerSchedule schedule = device.timer_schedule();
        trace.push_back(schedule.armed ? schedule.first_expiry_ns + schedule.period_ns : 0);
        device.expire(schedule.generation - (action & 1));
      }
    }
    trace.push_back(sink.changes.size());
    return trace;
  };
  EXPECT_EQ(run(7), run(7));
}

}  // namespace
}  // namespace ftvm
