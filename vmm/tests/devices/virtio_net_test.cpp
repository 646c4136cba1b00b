// virtio-net through its transport, as a guest driver uses it: a transmitted frame leaves with
// its own copy of the bytes at the notification, a received frame lands in the next offered
// buffer only when it is applied, frames wait for buffers in order, and a driver that breaks
// the rules breaks the device instead of the VMM.
#include "vmm/devices/virtio_net.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "virtio_test_driver.h"

namespace ftvm {
namespace {

class RecordingSink final : public NetSink {
 public:
  void transmit(std::vector<uint8_t> frame) override { frames.push_back(std::move(frame)); }
  std::vector<std::vector<uint8_t>> frames;
};

class Irq final : public IrqSink {
 public:
  void set_irq_level(uint8_t, bool high) override { level = high; }
  bool level = false;
};

constexpr uint16_t kQueueSize = 8;
// Per queue: descriptors, driver ring, device ring; then buffers.
constexpr uint64_t kRings[2][3] = {{0x1000, 0x2000, 0x3000}, {0x4000, 0x5000, 0x6000}};
constexpr uint64_t kRxBuffers = 0x10000;  // 2 KiB each
constexpr uint64_t kTxBuffer = 0x20000;
constexpr VirtioNet::Mac kMac = {0x02, 0x46, 0x54, 0x56, 0x4d, 0x01};

std::vector<uint8_t> frame_of(size_t size, uint8_t fill) {
  return std::vector<uint8_t>(size, fill);
}

class VirtioNetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    net_ = std::make_unique<VirtioNet>(memory_, sink_, kMac);
    transport_ = std::make_unique<VirtioMmio>(*net_, memory_, IrqLine(irq_, 6));
    start();
  }

  void write_reg(uint64_t offset, uint32_t value) {
    testing::write_register(*transport_, offset, value);
  }
  uint32_t read_reg(uint64_t offset) { return testing::read_register(*transport_, offset); }
  void start() {
    testing::start_device(
        *transport_, VirtioNet::kFeatureMac,
        {{kRings[0][0], kRings[0][1], kRings[0][2]}, {kRings[1][0], kRings[1][1], kRings[1][2]}},
        kQueueSize);
    ASSERT_TRUE(transport_->active()) << transport_->failure().value_or("");
  }
  template <typename T>
  void put(uint64_t gpa, T value) {
    ASSERT_TRUE(memory_.write_object(gpa, value));
  }
  void descriptor(int q, uint16_t index, uint64_t gpa, uint32_t length, uint16_t flags) {
    const uint64_t at = kRings[q][0] + 16 * uint64_t{index};
    put(at, gpa);
    put(at + 8, length);
    put(at + 12, flags);
    put(at + 14, uint16_t{0});
  }
  void make_available(int q, uint16_t head) {
    put(kRings[q][1] + 4 + 2 * uint64_t{static_cast<uint16_t>(avail_[q] % kQueueSize)}, head);
    put(kRings[q][1] + 2, ++avail_[q]);
  }
  // Offers receive buffer `index` (of `bytes`), without notifying.
  void offer_rx(uint16_t index, uint32_t bytes = 2048) {
    descriptor(0, index, kRxBuffers + 2048 * uint64_t{index}, bytes, Virtqueue::kDescWrite);
    make_available(0, index);
  }
  void transmit(std::span<const uint8_t> frame) {
    std::vector<uint8_t> bytes(VirtioNet::kHeaderBytes + frame.size(), 0);
    std::copy(frame.begin(), frame.end(), bytes.begin() + VirtioNet::kHeaderBytes);
    ASSERT_TRUE(memory_.write(kTxBuffer, bytes));
    descriptor(1, 0, kTxBuffer, static_cast<uint32_t>(bytes.size()), 0);
    make_available(1, 0);
    write_reg(VirtioMmio::kQueueNotify, 1);
  }
  uint16_t used_index(int q) {
    uint16_t i = 0;
    EXPECT_TRUE(memory_.read(kRings[q][2] + 2, {reinterpret_cast<uint8_t*>(&i), 2}));
    return i;
  }
  // The used-ring entry `slot` of queue q: (head, length).
  std::pair<uint32_t, uint32_t> used(int q, uint16_t slot) {
    uint32_t entry[2] = {};
    EXPECT_TRUE(memory_.read(kRings[q][2] + 4 + 8 * uint64_t{slot},
                             {reinterpret_cast<uint8_t*>(entry), 8}));
    return {entry[0], entry[1]};
  }
  std::vector<uint8_t> rx_bytes(uint16_t index, size_t count) {
    std::vector<uint8_t> out(count);
    EXPECT_TRUE(memory_.read(kRxBuffers + 2048 * uint64_t{index}, out));
    return out;
  }

  GuestMemory memory_ = GuestMemory::allocate(1 << 20).value();
  RecordingSink sink_;
  Irq irq_;
  std::unique_ptr<VirtioNet> net_;
  std::unique_ptr<VirtioMmio> transport_;
  uint16_t avail_[2] = {0, 0};
};

TEST_F(VirtioNetTest, ConfigSpaceHoldsTheMacAndOnlyMacIsOffered) {
  EXPECT_EQ(read_reg(VirtioMmio::kDeviceId), 1u);
  uint8_t mac[8] = {};
  transport_->read(VirtioMmio::kConfig, {mac, 8});
  EXPECT_EQ(std::memcmp(mac, kMac.data(), 6), 0);
  EXPECT_EQ(mac[6], 0);
  write_reg(VirtioMmio::kDeviceFeaturesSel, 0);
  EXPECT_EQ(read_reg(VirtioMmio::kDeviceFeatures), uint32_t{1} << 5);
}

TEST_F(VirtioNetTest, ATransmittedFrameLeavesWithItsOwnBytesAndTheChainComesBackAtOnce) {
  const auto frame = frame_of(60, 0x42);
  transmit(frame);
  ASSERT_EQ(sink_.frames.size(), 1u);
  EXPECT_EQ(sink_.frames[0], frame);
  ASSERT_TRUE(memory_.write(kTxBuffer + VirtioNet::kHeaderBytes, frame_of(60, 0x00)));
  EXPECT_EQ(sink_.frames[0], frame) << "the sink's copy changed with guest RAM";
  EXPECT_EQ(used_index(1), 1);
  EXPECT_TRUE(irq_.level);
  EXPECT_EQ(net_->stats().transmitted, 1u);
}

TEST_F(VirtioNetTest, AReceivedFrameLandsWithItsHeaderInTheOfferedBuffer) {
  offer_rx(0);
  write_reg(VirtioMmio::kQueueNotify, 0);
  EXPECT_EQ(used_index(0), 0);
  ASSERT_TRUE(net_->receive({frame_of(98, 0x5a)}));
  EXPECT_EQ(used_index(0), 1);
  EXPECT_EQ(used(0, 0), (std::pair<uint32_t, uint32_t>{0, 12 + 98}));
  const auto bytes = rx_bytes(0, 12 + 98);
  const std::vector<uint8_t> header = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0};  // num_buffers 1
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 12), header);
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin() + 12, bytes.end()), frame_of(98, 0x5a));
  EXPECT_TRUE(irq_.level);
}

TEST_F(VirtioNetTest, FramesWaitInOrderForBuffersAndOverflowIsDropped) {
  for (uint8_t i = 0; i < VirtioNet::kMaxWaitingFrames + 3; ++i) {
    ASSERT_TRUE(net_->receive({frame_of(64, i)}));
  }
  EXPECT_EQ(net_->stats().dropped, 3u);
  offer_rx(0);
  offer_rx(1);
  write_reg(VirtioMmio::kQueueNotify, 0);
  EXPECT_EQ(used_index(0), 2);
  EXPECT_EQ(rx_bytes(0, 13).back(), 0);  // oldest first
  EXPECT_EQ(rx_bytes(1, 13).back(), 1);
  EXPECT_EQ(net_->stats().received, 2u);
}

// A state transfer's load: frames that waited for a buffer on the sender land, in order, in
// the first buffers the guest offers on the joined machine.
TEST_F(VirtioNetTest, WaitingFramesMoveWithTheStateAndLandInOrder) {
  ASSERT_TRUE(net_->receive({frame_of(64, 7)}));
  ASSERT_TRUE(net_->receive({frame_of(80, 8)}));
  RecordingSink sink;
  Irq irq;
  VirtioNet copy(memory_, sink, kMac);
  VirtioMmio transport(copy, memory_, IrqLine(irq, 6));
  ASSERT_TRUE(transport.load(transport_->capture()));
  ASSERT_TRUE(copy.load_waiting_frames(net_->waiting_frames()));
  EXPECT_EQ(copy.waiting_frames(), net_->waiting_frames());
  offer_rx(0);
  testing::write_register(transport, VirtioMmio::kQueueNotify, 0);
  EXPECT_EQ(copy.stats().received, 1u);
  EXPECT_EQ(rx_bytes(0, 13).back(), 7);  // the oldest first
  EXPECT_EQ(copy.waiting_frames().size(), 1u);
}

TEST_F(VirtioNetTest, WaitingFramesADeviceWouldNotKeepAreRefused) {
  std::vector<std::vector<uint8_t>> too_many(VirtioNet::kMaxWaitingFrames + 1, frame_of(64, 1));
  EXPECT_FALSE(net_->load_waiting_frames(too_many));
  EXPECT_FALSE(net_->load_waiting_frames({frame_of(kMaxEthernetFrameBytes + 1, 1)}));
  EXPECT_FALSE(net_->load_waiting_frames({{}}));
  EXPECT_TRUE(net_->waiting_frames().empty());
}

TEST_F(VirtioNetTest, FramesForAStoppedDeviceOrOversizeAreDropped) {
  ASSERT_TRUE(net_->receive({frame_of(kMaxEthernetFrameBytes + 1, 1)}));
  ASSERT_TRUE(net_->receive({{}}));
  write_reg(VirtioMmio::kStatus, 0);  // reset
  ASSERT_TRUE(net_->receive({frame_of(64, 1)}));
  EXPECT_EQ(net_->stats().dropped, 3u);
  EXPECT_EQ(net_->stats().received, 0u);
}

TEST_F(VirtioNetTest, AReceiveBufferTooSmallForAFrameBreaksTheDevice) {
  offer_rx(0, 100);
  auto r = net_->receive({frame_of(200, 1)});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("100 device-writable bytes"), std::string::npos)
      << r.error().message;
}

TEST_F(VirtioNetTest, HostileTransmitChainsBreakTheDeviceNotTheVmm) {
  // Writable buffer on the transmit queue.
  descriptor(1, 0, kTxBuffer, 64, Virtqueue::kDescWrite);
  make_available(1, 0);
  write_reg(VirtioMmio::kQueueNotify, 1);
  EXPECT_TRUE(transport_->broken());
  EXPECT_NE(transport_->failure()->find("device-writable"), std::string::npos);
  EXPECT_TRUE(sink_.frames.empty());

  start();
  avail_[0] = avail_[1] = 0;
  // A frame larger than Ethernet allows, and a buffer outside guest RAM.
  descriptor(1, 0, kTxBuffer, 12 + 1515, 0);
  make_available(1, 0);
  write_reg(VirtioMmio::kQueueNotify, 1);
  EXPECT_TRUE(transport_->broken());
  start();
  avail_[0] = avail_[1] = 0;
  descriptor(1, 0, (1 << 20) - 8, 64, 0);
  make_available(1, 0);
  write_reg(VirtioMmio::kQueueNotify, 1);
  EXPECT_TRUE(transport_->broken());
  EXPECT_TRUE(sink_.frames.empty());
}

TEST(MacTest, ParsesAndFormatsSixHexBytes) {
  auto mac = parse_mac("02:46:54:56:4d:01");
  ASSERT_TRUE(mac.ok()) << mac.error().message;
  EXPECT_EQ(*mac, kMac);
  EXPECT_EQ(format_mac(*mac), "02:46:54:56:4d:01");
  for (const char* bad : {"", "02:46:54:56:4d", "02:46:54:56:4d:0g", "02-46-54-56-4d-01",
                          "02:46:54:56:4d:011", "03:46:54:56:4d:01"}) {
    EXPECT_FALSE(parse_mac(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace ftvm
