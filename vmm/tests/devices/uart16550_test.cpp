#include "vmm/devices/uart16550.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fakes.h"

namespace ftvm {
namespace {

using testing::inb;
using testing::outb;
using testing::RecordingConsole;
using testing::RecordingIrqSink;

enum Port : uint64_t {
  kData = 0,
  kIer = 1,
  kIirFcr = 2,
  kLcr = 3,
  kMcr = 4,
  kLsr = 5,
  kMsr = 6,
  kScr = 7
};

constexpr uint8_t kIrq = 4;
constexpr uint8_t kIerRx = 0x01;
constexpr uint8_t kIerThre = 0x02;
constexpr uint8_t kIerLineStatus = 0x04;
constexpr uint8_t kIerModem = 0x08;
constexpr uint8_t kMcrOut2 = 0x08;
constexpr uint8_t kMcrLoop = 0x10;
constexpr uint8_t kFifoOn = 0xc0;  // IIR bits when FIFOs are enabled

std::vector<uint8_t> bytes(const std::string& text) {
  return {text.begin(), text.end()};
}

class UartTest : public ::testing::Test {
 protected:
  std::string console_text() const {
    return std::string(console.output.begin(), console.output.end());
  }

  RecordingConsole console;
  RecordingIrqSink irqs;
  Uart16550 uart{console, IrqLine(irqs, kIrq)};
};

TEST_F(UartTest, PowerOnRegisters) {
  EXPECT_EQ(inb(uart, kIer), 0x00);
  EXPECT_EQ(inb(uart, kIirFcr), 0x01);
  EXPECT_EQ(inb(uart, kLcr), 0x00);
  EXPECT_EQ(inb(uart, kMcr), 0x00);
  EXPECT_EQ(inb(uart, kLsr), 0x60);
  EXPECT_EQ(inb(uart, kMsr), 0xb0);
  EXPECT_TRUE(irqs.changes.empty());
}

TEST_F(UartTest, TransmittedBytesGoStraightToTheConsole) {
  for (char c : std::string("hi\n")) outb(uart, kData, static_cast<uint8_t>(c));
  EXPECT_EQ(console_text(), "hi\n");
  EXPECT_EQ(inb(uart, kLsr), 0x60);  // THR and transmitter empty at once
}

TEST_F(UartTest, DlabSelectsTheDivisorLatch) {
  outb(uart, kIer, 0x05);
  outb(uart, kLcr, 0x83);
  outb(uart, kData, 0x01);
  outb(uart, kIer, 0x02);
  EXPECT_EQ(inb(uart, kData), 0x01);
  EXPECT_EQ(inb(uart, kIer), 0x02);
  EXPECT_TRUE(console.output.empty());
  outb(uart, kLcr, 0x03);
  EXPECT_EQ(inb(uart, kLcr), 0x03);
  EXPECT_EQ(inb(uart, kIer), 0x05);
  outb(uart, kLcr, 0x83);
  EXPECT_EQ(inb(uart, kData), 0x01);  // the divisor survived
  EXPECT_EQ(inb(uart, kIer), 0x02);
}

TEST_F(UartTest, ScratchRegisterHoldsAnyValue) {
  outb(uart, kScr, 0x5a);
  EXPECT_EQ(inb(uart, kScr), 0x5a);
}

TEST_F(UartTest, IerKeepsOnlyItsFourBits) {
  outb(uart, kIer, 0xff);
  EXPECT_EQ(inb(uart, kIer), 0x0f);
}

TEST_F(UartTest, ReceivedBytesAreReadInOrder) {
  auto input = bytes("a");
  EXPECT_EQ(uart.receive(input), 1u);
  EXPECT_EQ(inb(uart, kLsr) & 0x01, 0x01);
  EXPECT_EQ(inb(uart, kData), 'a');
  EXPECT_EQ(inb(uart, kLsr) & 0x01, 0x00);
  EXPECT_EQ(inb(uart, kData), 'a');  // an empty RBR still holds the last byte
}

TEST_F(UartTest, WithoutFifosOnlyOneByteFits) {
  auto input = bytes("ab");
  EXPECT_EQ(uart.rx_space(), 1u);
  EXPECT_EQ(uart.receive(input), 1u);
  EXPECT_EQ(uart.rx_space(), 0u);
  EXPECT_EQ(inb(uart, kData), 'a');
  EXPECT_EQ(uart.rx_space(), 1u);
}

TEST_F(UartTest, FifoHoldsSixteenBytes) {
  outb(uart, kIirFcr, 0x01);
  EXPECT_EQ(inb(uart, kIirFcr) & kFifoOn, kFifoOn);
  auto input = bytes("0123456789abcdefXYZ");
  EXPECT_EQ(uart.receive(input), 16u);
  EXPECT_EQ(uart.rx_space(), 0u);
  std::string read;
  while (inb(uart, kLsr) & 0x01) read.push_back(static_cast<char>(inb(uart, kData)));
  EXPECT_EQ(read, "0123456789abcdef");
  EXPECT_EQ(uart.rx_space(), 16u);
}

TEST_F(UartTest, OverrunWithFifosLosesTheNewByteAndKeepsTheFifo) {
  outb(uart, kIirFcr, 0x01);
  auto input = bytes("0123456789abcdefX");
  uart.receive_with_overrun(input);
  EXPECT_EQ(inb(uart, kLsr), 0x63);  // DR, OE, THRE, TEMT
  EXPECT_EQ(inb(uart, kLsr), 0x61);  // reading LSR cleared OE
  std::string read;
  while (inb(uart, kLsr) & 0x01) read.push_back(static_cast<char>(inb(uart, kData)));
  EXPECT_EQ(read, "0123456789abcdef");
}

TEST_F(UartTest, OverrunWithoutFifosReplacesTheUnreadByte) {
  auto input = bytes("ab");
  uart.receive_with_overrun(input);
  EXPECT_EQ(inb(uart, kLsr) & 0x03, 0x03);
  EXPECT_EQ(inb(uart, kData), 'b');
}

TEST_F(UartTest, ReceiveNeverOverruns) {
  auto input = bytes("ab");
  uart.receive(input);
  uart.receive(input);
  EXPECT_EQ(inb(uart, kLsr) & 0x02, 0x00);
}

TEST_F(UartTest, FifoResetBitsAndModeChangesEmptyTheReceiver) {
  outb(uart, kIirFcr, 0x01);
  auto input = bytes("abc");
  uart.receive(input);
  outb(uart, kIirFcr, 0x03);
  EXPECT_EQ(inb(uart, kLsr) & 0x01, 0x00);
  uart.receive(input);
  outb(uart, kIirFcr, 0x00);  // back to 16450 mode
  EXPECT_EQ(inb(uart, kLsr) & 0x01, 0x00);
  EXPECT_EQ(inb(uart, kIirFcr) & kFifoOn, 0x00);
}

TEST_F(UartTest, FcrClearBitsNeedTheEnableBit) {
  outb(uart, kIirFcr, 0x01);
  auto input = bytes("abc");
  uart.receive(input);
  outb(uart, kIirFcr, 0x01 | 0xc0);  // only a trigger change
  EXPECT_EQ(uart.rx_space(), 13u);
}

TEST_F(UartTest, RxTriggerLevelSelectsDataAvailableOverTimeout) {
  outb(uart, kIer, kIerRx);
  outb(uart, kIirFcr, 0x81);  // FIFO on, trigger at 8 bytes
  auto seven = bytes("1234567");
  uart.receive(seven);
  EXPECT_EQ(inb(uart, kIirFcr), kFifoOn | 0x0c);  // character timeout: data below the trigger
  auto one = bytes("8");
  uart.receive(one);
  EXPECT_EQ(inb(uart, kIirFcr), kFifoOn | 0x04);
  inb(uart, kData);
  EXPECT_EQ(inb(uart, kIirFcr), kFifoOn | 0x0c);
}

TEST_F(UartTest, TriggerLevels) {
  outb(uart, kIer, kIerRx);
  const std::pair<uint8_t, size_t> levels[] = {{0x01, 1}, {0x41, 4}, {0x81, 8}, {0xc1, 14}};
  for (auto [fcr, level] : levels) {
    outb(uart, kIirFcr, fcr | 0x02);
    std::vector<uint8_t> input(level - 1, 'x');
    uart.receive(input);
    if (level > 1) {
      EXPECT_EQ(inb(uart, kIirFcr) & 0x0f, 0x0c) << "fcr " << int{fcr};
    }
    auto one = bytes("y");
    uart.receive(one);
    EXPECT_EQ(inb(uart, kIirFcr) & 0x0f, 0x04) << "fcr " << int{fcr};
  }
}

TEST_F(UartTest, DataAvailableWithoutFifos) {
  outb(uart, kIer, kIerRx);
  auto input = bytes("a");
  uart.receive(input);
  EXPECT_EQ(inb(uart, kIirFcr), 0x04);
  inb(uart, kData);
  EXPECT_EQ(inb(uart, kIirFcr), 0x01);
}

TEST_F(UartTest, EnablingThreInterruptRaisesItAndReadingIirClearsIt) {
  outb(uart, kIer, kIerThre);
  EXPECT_EQ(inb(uart, kIirFcr), 0x02);
  EXPECT_EQ(inb(uart, kIirFcr), 0x01);
  outb(uart, kIer, kIerThre);  // already enabled: no new interrupt
  EXPECT_EQ(inb(uart, kIirFcr), 0x01);
  outb(uart, kIer, 0);
  outb(uart, kIer, kIerThre);
  EXPECT_EQ(inb(uart, kIirFcr), 0x02);
}

TEST_F(UartTest, ThrWriteRearmsTheThreInterrupt) {
  outb(uart, kIer, kIerThre);
  inb(uart, kIirFcr);
  outb(uart, kData, 'x');
  EXPECT_EQ(inb(uart, kIirFcr), 0x02);
}

TEST_F(UartTest, ReadingIirDoesNotClearThreWhenAnotherSourceIsReported) {
  outb(uart, kIer, kIerRx | kIerThre);
  auto input = bytes("a");
  uart.receive(input);
  EXPECT_EQ(inb(uart, kIirFcr), 0x04);
  inb(uart, kData);
  EXPECT_EQ(inb(uart, kIirFcr), 0x02);
  EXPECT_EQ(inb(uart, kIirFcr), 0x01);
}

TEST_F(UartTest, InterruptIdentificationPriorities) {
  outb(uart, kIirFcr, 0x01);
  // A modem status change: loopback with every modem output off drops CTS, DSR and DCD.
  outb(uart, kMcr, kMcrLoop);
  outb(uart, kMcr, 0);
  auto input = bytes("0123456789abcdefX");
  uart.receive_with_overrun(input);
  outb(uart, kIer, 0x0f);

  EXPECT_EQ(inb(uart, kIirFcr), kFifoOn | 0x06);  // line status
  inb(uart, kLsr);
  EXPECT_EQ(inb(uart, kIirFcr), kFifoOn | 0x04);  // received data (FIFO at or over trigger 1)
  for (int i = 0; i < 16; ++i) inb(uart, kData);
  EXPECT_EQ(inb(uart, kIirFcr), kFifoOn | 0x02);  // THR empty, cleared by this read
  EXPECT_EQ(inb(uart, kIirFcr), kFifoOn | 0x00);  // modem status
  EXPECT_EQ(inb(uart, kMsr) & 0x0f, 0x0b);        // DCTS, DDSR, DDCD
  EXPECT_EQ(inb(uart, kIirFcr), kFifoOn | 0x01);
}

TEST_F(UartTest, DisabledSourcesAreNotReported) {
  auto input = bytes("a");
  uart.receive(input);
  outb(uart, kIer, kIerThre);
  inb(uart, kIirFcr);
  outb(uart, kIer, kIerThre | kIerLineStatus | kIerModem);
  EXPECT_EQ(inb(uart, kIirFcr), 0x01);  // data is pending but ERBFI is off
}

TEST_F(UartTest, IrqLineNeedsOut2) {
  outb(uart, kIer, kIerThre);
  EXPECT_FALSE(irqs.level(kIrq));
  EXPECT_TRUE(irqs.changes.empty());
  outb(uart, kMcr, kMcrOut2);
  EXPECT_TRUE(irqs.level(kIrq));
  outb(uart, kMcr, 0);
  EXPECT_FALSE(irqs.level(kIrq));
}

TEST_F(UartTest, IrqLineFollowsReceivedData) {
  outb(uart, kMcr, kMcrOut2);
  outb(uart, kIer, kIerRx);
  auto input = bytes("a");
  uart.receive(input);
  EXPECT_TRUE(irqs.level(kIrq));
  inb(uart, kData);
  EXPECT_FALSE(irqs.level(kIrq));
  EXPECT_EQ(irqs.rising_edges(kIrq), 1);
}

TEST_F(UartTest, EachThrWriteGivesTheInterruptControllerANewEdge) {
  outb(uart, kMcr, kMcrOut2);
  outb(uart, kIer, kIerThre);
  EXPECT_EQ(irqs.rising_edges(kIrq), 1);
  EXPECT_EQ(inb(uart, kIirFcr), 0x02);
  EXPECT_FALSE(irqs.level(kIrq));
  outb(uart, kData, 'a');
  outb(uart, kData, 'b');
  EXPECT_EQ(irqs.rising_edges(kIrq), 3);
  EXPECT_TRUE(irqs.level(kIrq));
  outb(uart, kIer, 0);
  EXPECT_FALSE(irqs.level(kIrq));
}

TEST_F(UartTest, LoopbackFeedsTransmittedBytesToTheReceiver) {
  outb(uart, kMcr, kMcrLoop);
  outb(uart, kData, 'x');
  EXPECT_TRUE(console.output.empty());
  EXPECT_EQ(inb(uart, kLsr) & 0x01, 0x01);
  EXPECT_EQ(inb(uart, kData), 'x');
}

TEST_F(UartTest, LoopbackDisconnectsTheOutsideInput) {
  outb(uart, kMcr, kMcrLoop);
  auto input = bytes("a");
  EXPECT_EQ(uart.rx_space(), 0u);
  EXPECT_EQ(uart.receive(input), 0u);
  uart.receive_with_overrun(input);
  EXPECT_EQ(inb(uart, kLsr) & 0x03, 0x00);
  outb(uart, kMcr, 0);
  EXPECT_EQ(uart.receive(input), 1u);
}

TEST_F(UartTest, LoopbackRoutesModemOutputsToModemInputs) {
  outb(uart, kMcr, kMcrLoop);
  EXPECT_EQ(inb(uart, kMsr), 0x0b);   // everything dropped: DCTS, DDSR, DDCD
  outb(uart, kMcr, kMcrLoop | 0x01);  // DTR -> DSR
  EXPECT_EQ(inb(uart, kMsr), 0x22);
  outb(uart, kMcr, kMcrLoop | 0x02);  // RTS -> CTS
  EXPECT_EQ(inb(uart, kMsr), 0x13);
  outb(uart, kMcr, kMcrLoop | 0x04);  // OUT1 -> RI
  EXPECT_EQ(inb(uart, kMsr), 0x41);
  outb(uart, kMcr, kMcrLoop | 0x08);  // OUT2 -> DCD; RI falling is TERI
  EXPECT_EQ(inb(uart, kMsr), 0x8c);
  outb(uart, kMcr, 0);
  EXPECT_EQ(inb(uart, kMsr), 0xb3);
}

TEST_F(UartTest, LoopbackKeepsTheIrqLineLow) {
  outb(uart, kMcr, kMcrLoop | kMcrOut2);
  outb(uart, kIer, kIerThre);
  EXPECT_FALSE(irqs.level(kIrq));
  EXPECT_EQ(inb(uart, kIirFcr), 0x02);  // identification still works
}

TEST_F(UartTest, LsrAndMsrWritesAreIgnored) {
  outb(uart, kLsr, 0xff);
  outb(uart, kMsr, 0x00);
  EXPECT_EQ(inb(uart, kLsr), 0x60);
  EXPECT_EQ(inb(uart, kMsr), 0xb0);
}

TEST_F(UartTest, WideWriteIsSplitIntoRegisters) {
  const uint8_t thr_then_ier[] = {'z', kIerThre};
  uart.write(kData, thr_then_ier);
  EXPECT_EQ(console_text(), "z");
  EXPECT_EQ(inb(uart, kIer), kIerThre);
}

TEST_F(UartTest, UnknownOffsetsAreHarmless) {
  outb(uart, 8, 0x12);
  EXPECT_EQ(inb(uart, 8), 0xff);
  EXPECT_TRUE(console.output.empty());
}

TEST_F(UartTest, SaveRestoreRoundTrip) {
  outb(uart, kIirFcr, 0x41);
  outb(uart, kLcr, 0x80);
  outb(uart, kData, 0x03);
  outb(uart, kLcr, 0x03);
  outb(uart, kIer, kIerRx | kIerThre);
  outb(uart, kMcr, kMcrOut2 | 0x03);
  outb(uart, kScr, 0x77);
  auto input = bytes("hello");
  uart.receive(input);
  inb(uart, kData);

  RecordingConsole other_console;
  RecordingIrqSink other_irqs;
  Uart16550 copy(other_console, IrqLine(other_irqs, kIrq));
  copy.restore(uart.save());
  EXPECT_TRUE(other_irqs.changes.empty());
  EXPECT_EQ(inb(copy, kIirFcr), kFifoOn | 0x04);
  std::string read;
  while (inb(copy, kLsr) & 0x01) read.push_back(static_cast<char>(inb(copy, kData)));
  EXPECT_EQ(read, "ello");
  EXPECT_EQ(inb(copy, kScr), 0x77);
  EXPECT_EQ(inb(copy, kMcr), kMcrOut2 | 0x03);
  outb(copy, kLcr, 0x83);
  EXPECT_EQ(inb(copy, kData), 0x03);
  EXPECT_EQ(copy.rx_space(), 16u);
}

TEST_F(UartTest, RestoreClampsImpossibleValues) {
  UartState state;
  state.rx_count = 200;
  state.rx_head = 99;
  state.rx_trigger = 3;
  state.fifo_enabled = true;
  uart.restore(state);
  EXPECT_EQ(uart.rx_space(), 0u);
  int bytes_read = 0;
  while ((inb(uart, kLsr) & 0x01) && bytes_read < 100) {
    inb(uart, kData);
    ++bytes_read;
  }
  EXPECT_EQ(bytes_read, 16);
}

TEST_F(UartTest, ArbitraryGuestProgrammingIsDeterministic) {
  auto run = [](uint32_t seed) {
    RecordingConsole out;
    RecordingIrqSink sink;
    Uart16550 device(out, IrqLine(sink, kIrq));
    std::vector<uint8_t> trace;
    for (int step = 0; step < 20000; ++step) {
      seed = seed * 1664525 + 1013904223;
      uint8_t action = static_cast<uint8_t>(seed >> 24);
      uint8_t value = static_cast<uint8_t>(seed >> 16);
      uint64_t port = action & 7;
      if (action & 0x80) {
        outb(device, port, value);
      } else if (action & 0x40) {
        trace.push_back(inb(device, port));
      } else if (action & 0x20) {
        device.receive_with_overrun(std::span<const uint8_t>(&value, 1));
      } else {
        trace.push_back(static_cast<uint8_t>(device.receive(std::span<const uint8_t>(&value, 1))));
      }
    }
    trace.insert(trace.end(), out.output.begin(), out.output.end());
    trace.push_back(static_cast<uint8_t>(sink.changes.size()));
    return trace;
  };
  EXPECT_EQ(run(99), run(99));
}

TEST_F(UartTest, RequestToSendFollowsMcrRtsAndIsOffInLoopback) {
  EXPECT_FALSE(uart.request_to_send()) << "a guest that has not set up its UART is not ready";
  outb(uart, kMcr, 0x02);
  EXPECT_TRUE(uart.request_to_send());
  outb(uart, kMcr, 0x02 | kMcrLoop);
  EXPECT_FALSE(uart.request_to_send());
  outb(uart, kMcr, kMcrOut2);
  EXPECT_FALSE(uart.request_to_send());
}

}  // namespace
}  // namespace ftvm
