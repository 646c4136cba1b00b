#include "vmm/exit_handler.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace ftvm {
namespace {

class RecordingDevice : public IoDevice {
 public:
  void read(uint64_t offset, std::span<uint8_t> data) override {
    reads.push_back(offset);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(0x40 + i);
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    writes.push_back({offset, std::vector<uint8_t>(data.begin(), data.end())});
  }
  std::vector<uint64_t> reads;
  std::vector<std::pair<uint64_t, std::vector<uint8_t>>> writes;
};

// A fake kvm_run page: the struct followed by room for PIO data, as KVM lays it out.
class ExitHandlerTest : public ::testing::Test {
 protected:
  static constexpr size_t kPageBytes = 4096;
  static constexpr uint32_t kDataOffset = 2048;

  void SetUp() override {
    page_.assign(kPageBytes, 0);
    ASSERT_TRUE(pio_.insert(0x3f8, 8, device_, "uart").ok());
    ASSERT_TRUE(mmio_.insert(0xd0000000, 0x1000, device_, "mmio").ok());
  }
  kvm_run& run() { return *reinterpret_cast<kvm_run*>(page_.data()); }
  uint8_t* pio_data() { return page_.data() + kDataOffset; }
  void set_pio(uint16_t port, uint8_t size, uint32_t count, bool out) {
    run().exit_reason = KVM_EXIT_IO;
    run().io.port = port;
    run().io.size = size;
    run().io.count = count;
    run().io.direction = out ? KVM_EXIT_IO_OUT : KVM_EXIT_IO_IN;
    run().io.data_offset = kDataOffset;
  }

  std::vector<uint8_t> page_;
  Bus pio_;
  Bus mmio_;
  RecordingDevice device_;
  ExitHandler handler_{pio_, mmio_, kPageBytes};
};

TEST_F(ExitHandlerTest, PioWriteReachesTheDeviceAtItsOffset) {
  set_pio(0x3fb, 1, 1, true);
  pio_data()[0] = 0x83;
  EXPECT_EQ(handler_.handle(run()).action, ExitAction::kContinue);
  ASSERT_EQ(device_.writes.size(), 1u);
  EXPECT_EQ(device_.writes[0].first, 3u);
  EXPECT_EQ(device_.writes[0].second, std::vector<uint8_t>{0x83});
  EXPECT_EQ(handler_.counters().pio, 1u);
  EXPECT_EQ(handler_.exit_count(), 1u);
}

TEST_F(ExitHandlerTest, StringPioIsSplitIntoOneAccessPerElement) {
  set_pio(0x3f8, 1, 3, true);
  std::memcpy(pio_data(), "abc", 3);
  handler_.handle(run());
  ASSERT_EQ(device_.writes.size(), 3u);
  EXPECT_EQ(device_.writes[2].second, std::vector<uint8_t>{'c'});
}

TEST_F(ExitHandlerTest, PioReadFillsTheRunPage) {
  set_pio(0x3f9, 1, 1, false);
  handler_.handle(run());
  EXPECT_EQ(pio_data()[0], 0x40);
  EXPECT_EQ(device_.reads, std::vector<uint64_t>{1});
}

TEST_F(ExitHandlerTest, UnclaimedPortsReadAllOnesAndSwallowWrites) {
  set_pio(0x80, 2, 1, false);
  handler_.handle(run());
  EXPECT_EQ(pio_data()[0], 0xff);
  EXPECT_EQ(pio_data()[1], 0xff);
  set_pio(0x80, 1, 1, true);
  EXPECT_EQ(handler_.handle(run()).action, ExitAction::kContinue);
  EXPECT_EQ(handler_.counters().unclaimed, 2u);
  EXPECT_TRUE(device_.writes.empty());
}

TEST_F(ExitHandlerTest, AccessStraddlingADeviceEndIsUnclaimed) {
  set_pio(0x3ff, 2, 1, false);  // 0x3ff..0x400: the second byte is not the UART's
  handler_.handle(run());
  EXPECT_TRUE(device_.reads.empty());
  EXPECT_EQ(handler_.counters().unclaimed, 1u);
}

TEST_F(ExitHandlerTest, PioDataOutsideTheRunPageIsAFault) {
  set_pio(0x3f8, 4, 1000, true);
  EXPECT_EQ(handler_.handle(run()).action, ExitAction::kFault);
  EXPECT_TRUE(device_.writes.empty());
}

TEST_F(ExitHandlerTest, MmioReadAndWrite) {
  run().exit_reason = KVM_EXIT_MMIO;
  run().mmio.phys_addr = 0xd0000010;
  run().mmio.len = 4;
  run().mmio.is_write = 0;
  handler_.handle(run());
  EXPECT_EQ(device_.reads, std::vector<uint64_t>{0x10});
  EXPECT_EQ(run().mmio.data[3], 0x43);
  run().mmio.is_write = 1;
  handler_.handle(run());
  EXPECT_EQ(device_.writes.size(), 1u);
  EXPECT_EQ(handler_.counters().mmio, 2u);
}

TEST_F(ExitHandlerTest, MmioWithAnImpossibleLengthIsAFault) {
  run().exit_reason = KVM_EXIT_MMIO;
  run().mmio.phys_addr = 0xd0000010;
  run().mmio.len = 9;
  EXPECT_EQ(handler_.handle(run()).action, ExitAction::kFault);
}

TEST_F(ExitHandlerTest, HltHaltsAndCountsAsDeterministic) {
  run().exit_reason = KVM_EXIT_HLT;
  EXPECT_EQ(handler_.handle(run()).action, ExitAction::kHalt);
  EXPECT_EQ(handler_.exit_count(), 1u);
}

TEST_F(ExitHandlerTest, AsynchronousExitsAreNotPartOfTheExitCount) {
  run().exit_reason = KVM_EXIT_INTR;
  handler_.handle(run());
  handler_.note_interrupted();
  run().exit_reason = KVM_EXIT_IRQ_WINDOW_OPEN;
  handler_.handle(run());
  EXPECT_EQ(handler_.counters().interrupted, 2u);
  EXPECT_EQ(handler_.exit_count(), 1u) << "only the interrupt window counts";
  EXPECT_EQ(handler_.counters().total(), 3u);
}

TEST_F(ExitHandlerTest, FatalExitsAreFaultsWithAReason) {
  run().exit_reason = KVM_EXIT_SHUTDOWN;
  auto outcome = handler_.handle(run());
  EXPECT_EQ(outcome.action, ExitAction::kFault);
  EXPECT_NE(outcome.fault.find("triple fault"), std::string::npos);
  run().exit_reason = KVM_EXIT_FAIL_ENTRY;
  run().fail_entry.hardware_entry_failure_reason = 0x21;
  EXPECT_NE(handler_.handle(run()).fault.find("0x21"), std::string::npos);
  run().exit_reason = 9999;
  EXPECT_EQ(handler_.handle(run()).action, ExitAction::kFault);
}

}  // namespace
}  // namespace ftvm
