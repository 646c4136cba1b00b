#include "vmm/devices/pic8259.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "fakes.h"

namespace ftvm {
namespace {

using testing::inb;
using testing::outb;

constexpr uint64_t kCommand = 0;
constexpr uint64_t kData = 1;
constexpr uint8_t kMasterBase = 0x20;
constexpr uint8_t kSlaveBase = 0x28;
constexpr uint8_t kNonSpecificEoi = 0x20;
constexpr uint8_t kReadIrr = 0x0a;
constexpr uint8_t kReadIsr = 0x0b;
constexpr uint8_t kPoll = 0x0c;

uint8_t specific_eoi(uint8_t line) {
  return 0x60 | line;
}

struct ChipProgram {
  uint8_t icw1 = 0x11;  // edge, cascade, ICW4 follows
  uint8_t icw4 = 0x01;  // 8086 mode
};

void init_chip(IoDevice& io, uint8_t base, uint8_t icw3, ChipProgram program) {
  outb(io, kCommand, program.icw1);
  outb(io, kData, base);
  if (!(program.icw1 & 0x02)) outb(io, kData, icw3);
  if (program.icw1 & 0x01) outb(io, kData, program.icw4);
}

// What a PC BIOS or OS does: master at 0x20 with the slave on IR2, slave at 0x28.
void init_pair(PicPair& pic, ChipProgram master = {}, ChipProgram slave = {}) {
  init_chip(pic.master_io(), kMasterBase, 0x04, master);
  init_chip(pic.slave_io(), kSlaveBase, 0x02, slave);
}

void pulse(PicPair& pic, uint8_t irq) {
  pic.set_irq_level(irq, true);
  pic.set_irq_level(irq, false);
}

uint8_t read_isr(IoDevice& io) {
  outb(io, kCommand, kReadIsr);
  return inb(io, kCommand);
}

uint8_t read_irr(IoDevice& io) {
  outb(io, kCommand, kReadIrr);
  return inb(io, kCommand);
}

TEST(PicPair, DeliversNothingBeforeInitialization) {
  PicPair pic;
  pic.set_irq_level(0, true);
  EXPECT_FALSE(pic.interrupt_pending());
  EXPECT_EQ(inb(pic.master_io(), kData), 0xff);
}

TEST(PicPair, InitializationClearsMasksAndSetsVectorBase) {
  PicPair pic;
  init_pair(pic);
  EXPECT_EQ(inb(pic.master_io(), kData), 0x00);
  EXPECT_EQ(inb(pic.slave_io(), kData), 0x00);
  pulse(pic, 0);
  ASSERT_TRUE(pic.interrupt_pending());
  EXPECT_EQ(pic.acknowledge(), 0x20);
}

TEST(PicPair, VectorBaseIgnoresLowThreeBitsOfIcw2) {
  PicPair pic;
  init_chip(pic.master_io(), 0x47, 0x04, {});
  pulse(pic, 3);
  EXPECT_EQ(pic.acknowledge(), 0x43);
}

TEST(PicPair, InitializationWithoutIcw4EndsAfterIcw3) {
  PicPair pic;
  init_chip(pic.master_io(), 0x20, 0x04, {.icw1 = 0x10});
  outb(pic.master_io(), kData, 0x01);  // OCW1, not an ICW4
  EXPECT_EQ(inb(pic.master_io(), kData), 0x01);
  pic.set_irq_level(1, true);
  EXPECT_EQ(pic.acknowledge(), 0x21);
  EXPECT_EQ(read_isr(pic.master_io()), 0x02);  // no ICW4 means no auto-EOI
}

TEST(PicPair, SingleModeSkipsIcw3) {
  PicPair pic;
  init_chip(pic.master_io(), 0x30, 0, {.icw1 = 0x13, .icw4 = 0x03});  // single, auto-EOI
  outb(pic.master_io(), kData, 0x80);
  EXPECT_EQ(inb(pic.master_io(), kData), 0x80);
  pulse(pic, 5);
  EXPECT_EQ(pic.acknowledge(), 0x35);
  EXPECT_EQ(read_isr(pic.master_io()), 0x00);  // the ICW4 was taken: auto-EOI
}

TEST(PicPair, NoDeliveryWhileInitializationIsIncomplete) {
  PicPair pic;
  outb(pic.master_io(), kCommand, 0x11);
  outb(pic.master_io(), kData, 0x20);
  pulse(pic, 0);
  EXPECT_FALSE(pic.interrupt_pending());
  outb(pic.master_io(), kData, 0x04);
  outb(pic.master_io(), kData, 0x01);
  EXPECT_TRUE(pic.interrupt_pending());
}

TEST(PicPair, LowerIrqNumberHasPriority) {
  PicPair pic;
  init_pair(pic);
  pulse(pic, 3);
  pulse(pic, 1);
  EXPECT_EQ(pic.acknowledge(), 0x21);
  EXPECT_FALSE(pic.interrupt_pending());  // IRQ1 in service holds IRQ3 off
  outb(pic.master_io(), kCommand, kNonSpecificEoi);
  ASSERT_TRUE(pic.interrupt_pending());
  EXPECT_EQ(pic.acknowledge(), 0x23);
}

TEST(PicPair, InServiceBlocksLowerAndEqualButNotHigherPriority) {
  PicPair pic;
  init_pair(pic);
  pulse(pic, 3);
  EXPECT_EQ(pic.acknowledge(), 0x23);
  pulse(pic, 5);
  pulse(pic, 3);
  EXPECT_FALSE(pic.interrupt_pending());
  pulse(pic, 1);
  ASSERT_TRUE(pic.interrupt_pending());
  EXPECT_EQ(pic.acknowledge(), 0x21);
  EXPECT_EQ(read_isr(pic.master_io()), 0x0a);
}

TEST(PicPair, MaskedRequestIsLatchedButNotDelivered) {
  PicPair pic;
  init_pair(pic);
  outb(pic.master_io(), kData, 0x01);
  pulse(pic, 0);
  EXPECT_FALSE(pic.interrupt_pending());
  EXPECT_EQ(read_irr(pic.master_io()), 0x01);
  outb(pic.master_io(), kData, 0x00);
  ASSERT_TRUE(pic.interrupt_pending());
  EXPECT_EQ(pic.acknowledge(), 0x20);
}

TEST(PicPair, NonSpecificEoiClearsHighestPriorityInService) {
  PicPair pic;
  init_pair(pic);
  pulse(pic, 3);
  pic.acknowledge();
  pulse(pic, 1);
  pic.acknowledge();
  ASSERT_EQ(read_isr(pic.master_io()), 0x0a);
  outb(pic.master_io(), kCommand, kNonSpecificEoi);
  EXPECT_EQ(read_isr(pic.master_io()), 0x08);
  outb(pic.master_io(), kCommand, kNonSpecificEoi);
  EXPECT_EQ(read_isr(pic.master_io()), 0x00);
  outb(pic.master_io(), kCommand, kNonSpecificEoi);  // nothing in service: harmless
  EXPECT_EQ(read_isr(pic.master_io()), 0x00);
}

TEST(PicPair, SpecificEoiClearsTheNamedLevel) {
  PicPair pic;
  init_pair(pic);
  pulse(pic, 3);
  pic.acknowledge();
  pulse(pic, 1);
  pic.acknowledge();
  outb(pic.master_io(), kCommand, specific_eoi(3));
  EXPECT_EQ(read_isr(pic.master_io()), 0x02);
}

TEST(PicPair, Ocw3SelectsWhichRegisterTheCommandPortReads) {
  PicPair pic;
  init_pair(pic);
  pulse(pic, 4);
  pic.acknowledge();
  pulse(pic, 6);
  EXPECT_EQ(inb(pic.master_io(), kCommand), 0x40);  // IRR after initialization
  outb(pic.master_io(), kCommand, kReadIsr);
  EXPECT_EQ(inb(pic.master_io(), kCommand), 0x10);
  outb(pic.master_io(), kCommand, 0x08);  // OCW3 without RR: selection unchanged
  EXPECT_EQ(inb(pic.master_io(), kCommand), 0x10);
  outb(pic.master_io(), kCommand, kReadIrr);
  EXPECT_EQ(inb(pic.master_io(), kCommand), 0x40);
}

TEST(PicPair, EdgeTriggeredRequestsOnlyOnRisingEdge) {
  PicPair pic;
  init_pair(pic);
  pic.set_irq_level(1, true);
  EXPECT_EQ(pic.acknowledge(), 0x21);
  outb(pic.master_io(), kCommand, kNonSpecificEoi);
  pic.set_irq_level(1, true);  // still high: no new edge
  EXPECT_FALSE(pic.interrupt_pending());
  pic.set_irq_level(1, false);
  pic.set_irq_level(1, true);
  EXPECT_TRUE(pic.interrupt_pending());
}

TEST(PicPair, EdgeTriggeredRequestSurvivesTheLineFalling) {
  PicPair pic;
  init_pair(pic);
  pulse(pic, 4);
  ASSERT_TRUE(pic.interrupt_pending());
  EXPECT_EQ(pic.acknowledge(), 0x24);
}

TEST(PicPair, LevelTriggeredIrrFollowsTheLine) {
  PicPair pic;
  init_pair(pic, {.icw1 = 0x19});
  pic.set_irq_level(4, true);
  EXPECT_EQ(read_irr(pic.master_io()), 0x10);
  pic.set_irq_level(4, false);
  EXPECT_EQ(read_irr(pic.master_io()), 0x00);
  EXPECT_FALSE(pic.interrupt_pending());

  pic.set_irq_level(4, true);
  EXPECT_EQ(pic.acknowledge(), 0x24);
  EXPECT_FALSE(pic.interrupt_pending());
  outb(pic.master_io(), kCommand, kNonSpecificEoi);
  EXPECT_TRUE(pic.interrupt_pending());  // the line is still high: a new request
}

TEST(PicPair, SpuriousIrq7WhenTheRequestVanishesBeforeAcknowledge) {
  PicPair pic;
  init_pair(pic, {.icw1 = 0x19});
  pic.set_irq_level(4, true);
  ASSERT_TRUE(pic.interrupt_pending());
  pic.set_irq_level(4, false);
  EXPECT_EQ(pic.acknowledge(), 0x27);
  EXPECT_EQ(read_isr(pic.master_io()), 0x00);  // a spurious IRQ7 sets no ISR bit
}

TEST(PicPair, SpuriousIrq7WhenNothingIsPending) {
  PicPair pic;
  init_pair(pic);
  EXPECT_EQ(pic.acknowledge(), 0x27);
}

TEST(PicPair, SlaveRequestCascadesThroughIrq2) {
  PicPair pic;
  init_pair(pic);
  pulse(pic, 10);
  ASSERT_TRUE(pic.interrupt_pending());
  EXPECT_EQ(pic.acknowledge(), 0x2a);
  EXPECT_EQ(read_isr(pic.master_io()), 0x04);
  EXPECT_EQ(read_isr(pic.slave_io()), 0x04);
  outb(pic.slave_io(), kCommand, kNonSpecificEoi);
  outb(pic.master_io(), kCommand, kNonSpecificEoi);
  EXPECT_EQ(read_isr(pic.master_io()), 0x00);
  EXPECT_EQ(read_isr(pic.slave_io()), 0x00);
  EXPECT_FALSE(pic.interrupt_pending());
}

TEST(PicPair, SlaveRequestsHaveThePriorityOfIrq2) {
  PicPair pic;
  init_pair(pic);
  pulse(pic, 3);
  pulse(pic, 15);
  pulse(pic, 1);
  EXPECT_EQ(pic.acknowledge(), 0x21);
  outb(pic.master_io(), kCommand, kNonSpecificEoi);
  EXPECT_EQ(pic.acknowledge(), 0x2f);
  outb(pic.slave_io(), kCommand, kNonSpecificEoi);
  outb(pic.master_io(), kCommand, kNonSpecificEoi);
  EXPECT_EQ(pic.acknowledge(), 0x23);
}

TEST(PicPair, SlaveRequestWaitsForTheMastersEoiOfIrq2) {
  PicPair pic;
  init_pair(pic);
  pulse(pic, 10);
  pic.acknowledge();
  outb(pic.slave_io(), kCommand, kNonSpecificEoi);
  pulse(pic, 11);
  EXPECT_FALSE(pic.interrupt_pending());
  outb(pic.master_io(), kCommand, kNonSpecificEoi);
  ASSERT_TRUE(pic.interrupt_pending());
  EXPECT_EQ(pic.acknowledge(), 0x2b);
}

TEST(PicPair, MaskingIrq2MasksTheWholeSlave) {
  PicPair pic;
  init_pair(pic);
  outb(pic.master_io(), kData, 0x04);
  pulse(pic, 12);
  EXPECT_FALSE(pic.interrupt_pending());
  outb(pic.master_io(), kData, 0x00);
  ASSERT_TRUE(pic.interrupt_pending());
  EXPECT_EQ(pic.acknowledge(), 0x2c);
}

TEST(PicPair, SlaveMaskHoldsItsLineOnly) {
  PicPair pic;
  init_pair(pic);
  outb(pic.slave_io(), kData, 0x01);
  pulse(pic, 8);
  EXPECT_FALSE(pic.interrupt_pending());
  pulse(pic, 9);
  EXPECT_EQ(pic.acknowledge(), 0x29);
}

TEST(PicPair, SpuriousIrq15WhenTheSlaveRequestVanishes) {
  PicPair pic;
  init_pair(pic, {}, {.icw1 = 0x19});  // level-triggered slave
  pic.set_irq_level(12, true);
  ASSERT_TRUE(pic.interrupt_pending());
  pic.set_irq_level(12, false);
  ASSERT_TRUE(pic.interrupt_pending());  // the master latched the slave's edge
  EXPECT_EQ(pic.acknowledge(), 0x2f);
  EXPECT_EQ(read_isr(pic.slave_io()), 0x00);
  EXPECT_EQ(read_isr(pic.master_io()), 0x04);  // the master still needs its EOI
}

TEST(PicPair, AutoEoiLeavesNothingInService) {
  PicPair pic;
  init_pair(pic, {.icw4 = 0x03});
  pulse(pic, 0);
  EXPECT_EQ(pic.acknowledge(), 0x20);
  EXPECT_EQ(read_isr(pic.master_io()), 0x00);
  pulse(pic, 0);
  ASSERT_TRUE(pic.interrupt_pending());  // no EOI needed
  EXPECT_EQ(pic.acknowledge(), 0x20);
}

TEST(PicPair, AutoEoiSlaveDeliversEveryRequest) {
  PicPair pic;
  init_pair(pic, {.icw4 = 0x03}, {.icw4 = 0x03});
  pulse(pic, 8);
  pulse(pic, 9);
  EXPECT_EQ(pic.acknowledge(), 0x28);
  ASSERT_TRUE(pic.interrupt_pending());
  EXPECT_EQ(pic.acknowledge(), 0x29);
  EXPECT_FALSE(pic.interrupt_pending());
}

TEST(PicPair, SpecialFullyNestedModeLetsHigherSlaveRequestsNest) {
  PicPair nested;
  init_pair(nested, {.icw4 = 0x11});
  pulse(nested, 10);
  EXPECT_EQ(nested.acknowledge(), 0x2a);
  pulse(nested, 8);
  ASSERT_TRUE(nested.interrupt_pending());
  EXPECT_EQ(nested.acknowledge(), 0x28);

  PicPair fully_nested;
  init_pair(fully_nested);
  pulse(fully_nested, 10);
  fully_nested.acknowledge();
  pulse(fully_nested, 8);
  EXPECT_FALSE(fully_nested.interrupt_pending());
}

TEST(PicPair, PollReportsAndServicesTheHighestRequest) {
  PicPair pic;
  init_pair(pic);
  pulse(pic, 5);
  pulse(pic, 6);
  outb(pic.master_io(), kCommand, kPoll);
  EXPECT_EQ(inb(pic.master_io(), kCommand), 0x85);
  EXPECT_EQ(read_isr(pic.master_io()), 0x20);
  EXPECT_EQ(read_irr(pic.master_io()), 0x40);
  outb(pic.master_io(), kCommand, kPoll);
  EXPECT_EQ(inb(pic.master_io(), kData), 0x00);  // IRQ6 is held off by IRQ5 in service
  EXPECT_EQ(inb(pic.master_io(), kData), 0x00);  // the poll is over: the mask again
}

TEST(PicPair, PollThroughTheCascade) {
  PicPair pic;
  init_pair(pic);
  pulse(pic, 13);
  outb(pic.master_io(), kCommand, kPoll);
  EXPECT_EQ(inb(pic.master_io(), kCommand), 0x82);
  outb(pic.slave_io(), kCommand, kPoll);
  EXPECT_EQ(inb(pic.slave_io(), kCommand), 0x85);
  EXPECT_EQ(read_isr(pic.slave_io()), 0x20);
}

TEST(PicPair, RotateOnNonSpecificEoiMakesServicedLevelLowest) {
  PicPair pic;
  init_pair(pic);
  pulse(pic, 0);
  pic.acknowledge();
  outb(pic.master_io(), kCommand, 0xa0);
  pulse(pic, 0);
  pulse(pic, 5);
  EXPECT_EQ(pic.acknowledge(), 0x25);
}

TEST(PicPair, RotateOnSpecificEoi) {
  PicPair pic;
  init_pair(pic);
  pulse(pic, 4);
  pic.acknowledge();
  outb(pic.master_io(), kCommand, 0xe4);  // EOI IRQ4, IRQ4 becomes lowest
  EXPECT_EQ(read_isr(pic.master_io()), 0x00);
  pulse(pic, 3);
  pulse(pic, 6);
  EXPECT_EQ(pic.acknowledge(), 0x26);
}

TEST(PicPair, SetPriorityCommand) {
  PicPair pic;
  init_pair(pic);
  outb(pic.master_io(), kCommand, 0xc3);  // IRQ3 lowest, so IRQ4 highest
  pulse(pic, 1);
  pulse(pic, 4);
  EXPECT_EQ(pic.acknowledge(), 0x24);
  // IRQ4 in service blocks IRQ1 (lower priority now) until its EOI.
  EXPECT_FALSE(pic.interrupt_pending());
  outb(pic.master_io(), kCommand, kNonSpecificEoi);
  EXPECT_EQ(pic.acknowledge(), 0x21);
}

TEST(PicPair, RotateInAutoEoiMode) {
  PicPair pic;
  init_pair(pic, {.icw4 = 0x03});
  outb(pic.master_io(), kCommand, 0x80);
  pulse(pic, 1);
  EXPECT_EQ(pic.acknowledge(), 0x21);
  pulse(pic, 1);
  pulse(pic, 3);
  EXPECT_EQ(pic.acknowledge(), 0x23);     // IRQ1 rotated to lowest
  outb(pic.master_io(), kCommand, 0x00);  // clear rotate in auto-EOI
  pulse(pic, 2);                          // via the slave's IRQ9, slave not in service
  EXPECT_EQ(pic.acknowledge(), 0x21);     // IRQ3 lowest now, IRQ4.. then 0, 1
}

TEST(PicPair, SpecialMaskModeEnablesLowerLevels) {
  PicPair pic;
  init_pair(pic);
  pulse(pic, 3);
  pic.acknowledge();
  outb(pic.master_io(), kData, 0x08);
  pulse(pic, 5);
  EXPECT_FALSE(pic.interrupt_pending());
  outb(pic.master_io(), kCommand, 0x68);  // set special mask mode
  ASSERT_TRUE(pic.interrupt_pending());
  EXPECT_EQ(pic.acknowledge(), 0x25);
  outb(pic.master_io(), kCommand, 0x48);  // reset special mask mode
  pulse(pic, 6);
  EXPECT_FALSE(pic.interrupt_pending());
}

TEST(PicPair, IsaIrq2IsWiredToIrq9) {
  PicPair pic;
  init_pair(pic);
  pulse(pic, 2);
  EXPECT_EQ(pic.acknowledge(), 0x29);
}

TEST(PicPair, OutOfRangeIrqIsIgnored) {
  PicPair pic;
  init_pair(pic);
  pic.set_irq_level(16, true);
  pic.set_irq_level(255, true);
  EXPECT_FALSE(pic.interrupt_pending());
}

TEST(PicPair, ReinitializationDropsPendingAndInServiceState) {
  PicPair pic;
  init_pair(pic);
  pulse(pic, 1);
  pic.acknowledge();
  pulse(pic, 3);
  init_pair(pic);
  EXPECT_EQ(read_isr(pic.master_io()), 0x00);
  EXPECT_EQ(read_irr(pic.master_io()), 0x00);
  EXPECT_FALSE(pic.interrupt_pending());
}

TEST(PicPair, WideAccessIsSplitIntoPortsInAddressOrder) {
  PicPair pic;
  init_pair(pic);
  const uint8_t ocw3_then_mask[] = {kReadIsr, 0x04};
  pic.master_io().write(kCommand, ocw3_then_mask);
  EXPECT_EQ(inb(pic.master_io(), kData), 0x04);
  uint8_t both[2] = {};
  pulse(pic, 0);
  pic.acknowledge();
  pic.master_io().read(kCommand, both);
  EXPECT_EQ(both[0], 0x01);  // ISR, as OCW3 selected
  EXPECT_EQ(both[1], 0x04);
}

TEST(PicPair, SaveRestoreRoundTrip) {
  PicPair original;
  init_pair(original, {}, {.icw1 = 0x19});
  pulse(original, 3);
  original.acknowledge();
  pulse(original, 6);
  original.set_irq_level(11, true);
  outb(original.master_io(), kData, 0x40);

  PicPair copy;
  copy.restore(original.save());
  EXPECT_EQ(read_isr(copy.master_io()), 0x08);
  EXPECT_EQ(inb(copy.master_io(), kData), 0x40);
  ASSERT_TRUE(copy.interrupt_pending());
  EXPECT_EQ(copy.acknowledge(), 0x2b);
  copy.set_irq_level(11, false);  // level-triggered slave remembered its line
  EXPECT_EQ(read_irr(copy.slave_io()), 0x00);
}

TEST(PicPair, RestoreSanitizesImpossibleValues) {
  PicState state;
  state.master.lowest_priority = 200;
  state.master.init_step = static_cast<PicInitStep>(99);
  state.master.imr = 0;
  state.master.irr = 0x01;
  PicPair pic;
  pic.restore(state);
  EXPECT_TRUE(pic.interrupt_pending());
  EXPECT_EQ(pic.acknowledge(), 0x00);
}

// A guest can write anything; the model must stay deterministic and never fail.
TEST(PicPair, ArbitraryGuestProgrammingIsDeterministic) {
  PicPair first;
  PicPair second;
  uint32_t seed = 12345;
  auto next = [&seed] {
    seed = seed * 1664525 + 1013904223;
    return static_cast<uint8_t>(seed >> 24);
  };
  std::vector<uint8_t> first_trace;
  std::vector<uint8_t> second_trace;
  for (int step = 0; step < 20000; ++step) {
    uint8_t action = next();
    uint8_t value = next();
    for (auto [pic, trace] : {std::pair{&first, &first_trace}, std::pair{&second, &second_trace}}) {
      IoDevice& io = (action & 1) ? pic->master_io() : pic->slave_io();
      uint64_t port = (action >> 1) & 3;  // includes offsets past the device
      switch (action >> 5) {
        case 0:
        case 1:
          outb(io, port, value);
          break;
        case 2:
          trace->push_back(inb(io, port));
          break;
        case 3:
        case 4:
          pic->set_irq_level(value & 31, action & 2);
          break;
        default:
          trace->push_back(pic->interrupt_pending() ? pic->acknowledge() : 0);
          break;
      }
    }
  }
  EXPECT_EQ(first_trace, second_trace);
  EXPECT_GT(first_trace.size(), 1000u);
}

}  // namespace
}  // namespace ftvm
