#include "vmm/platform.h"

#include <gtest/gtest.h>

#include <string>

#include "testsvc/abi.h"

namespace ftvm {
namespace {

namespace abi = testsvc::abi;

class FixedTime : public TimeSource {
 public:
  uint64_t monotonic_ns() override { return 1'000'000; }
  int64_t realtime_ns() override { return 1'795'000'000'000'000'000; }
};

class StringConsole : public ConsoleSink {
 public:
  void write(std::span<const uint8_t> bytes) override { text.append(bytes.begin(), bytes.end()); }
  std::string text;
};

class PlatformTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(platform.attach_devices().ok()); }
  void out(uint16_t port, uint8_t value) {
    auto route = platform.pio_bus().find(port, 1);
    ASSERT_TRUE(route);
    route->device->write(route->offset, {&value, 1});
  }
  uint8_t in(uint16_t port) {
    uint8_t value = 0;
    auto route = platform.pio_bus().find(port, 1);
    EXPECT_TRUE(route);
    if (route) route->device->read(route->offset, {&value, 1});
    return value;
  }

  FixedTime time;
  StringConsole console;
  Platform platform{time, console};
};

TEST_F(PlatformTest, ClaimsTheLegacyPortsOfTheAbi) {
  for (uint16_t port : {abi::kPicMasterCommand, abi::kPicSlaveData, abi::kPitCommand, abi::kRtcData,
                        abi::kCom1Base, abi::kShutdownPort}) {
    EXPECT_TRUE(platform.pio_bus().find(port, 1)) << std::hex << port;
  }
  EXPECT_FALSE(platform.attach_devices().ok()) << "a second claim of the same ports is refused";
}

TEST_F(PlatformTest, ConsoleInputWaitsForRtsThenFillsTheFifoAndKeepsTheRest) {
  ASSERT_TRUE(platform.apply(ConsoleInput{std::vector<uint8_t>(20, 'x')}));
  EXPECT_TRUE(platform.has_pending_input());
  EXPECT_EQ(in(abi::kCom1Base + 5) & 0x01, 0) << "no data before the guest asserts RTS";

  out(abi::kCom1Base + 2, 0x07);  // FIFO on, cleared
  out(abi::kCom1Base + 4, 0x0b);  // DTR, RTS, OUT2
  platform.offer_pending_input();
  int received = 0;
  while (in(abi::kCom1Base + 5) & 0x01) {
    EXPECT_EQ(in(abi::kCom1Base), 'x');
    ++received;
  }
  EXPECT_EQ(received, 16) << "one FIFO's worth";
  EXPECT_TRUE(platform.has_pending_input());
  platform.offer_pending_input();
  received = 0;
  while (in(abi::kCom1Base + 5) & 0x01) {
    in(abi::kCom1Base);
    ++received;
  }
  EXPECT_EQ(received, 4);
  EXPECT_FALSE(platform.has_pending_input()) << "nothing was lost";
}

TEST_F(PlatformTest, UartOutputReachesTheConsole) {
  for (char c : std::string("hi\n")) out(abi::kCom1Base, static_cast<uint8_t>(c));
  EXPECT_EQ(console.text, "hi\n");
}

// A block completion goes to the machine's disk; a machine without one cannot take it, and
// says so instead of dropping it (the log or a backend would be broken).
class DroppingBackend final : public BlockBackend {
 public:
  void submit(BlockRequest request) override { requests.push_back(std::move(request)); }
  std::vector<BlockRequest> requests;
};

// The disk answers in its ABI slot, and completions reach it.
TEST_F(PlatformTest, ADiskSitsInItsVirtioSlot) {
  GuestMemory memory = GuestMemory::allocate(1 << 20).value();
  DroppingBackend backend;
  ASSERT_TRUE(platform.attach_disk(memory, backend, {1 << 20, false, "d0"}));
  auto route = platform.mmio_bus().find(abi::kVirtioBlkGpa, 4);
  ASSERT_TRUE(route);
  uint32_t magic = 0, id = 0;
  route->device->read(VirtioMmio::kMagicValue, {reinterpret_cast<uint8_t*>(&magic), 4});
  route->device->read(VirtioMmio::kDeviceId, {reinterpret_cast<uint8_t*>(&id), 4});
  EXPECT_EQ(magic, VirtioMmio::kMagic);
  EXPECT_EQ(id, VirtioBlk::kDeviceId);
  EXPECT_FALSE(platform.attach_disk(memory, backend, {1 << 20, false, "d1"}));
  // Nothing was submitted, so a completion is an error the platform passes on.
  auto r = platform.apply(BlockCompletion{0, BlockStatus::kOk, {}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("never submitted"), std::string::npos);
}

TEST_F(PlatformTest, ABlockCompletionNeedsADisk) {
  auto r = platform.apply(BlockCompletion{3, BlockStatus::kOk, {}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("without a disk"), std::string::npos);
}

}  // namespace
}  // namespace ftvm
