// The virtio-mmio transport driven register by register as a guest driver would (virtio 1.2,
// section 4.2.3), with a device that records what it is asked to do.
#include "vmm/devices/virtio_mmio.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

namespace ftvm {
namespace {

using ::testing::HasSubstr;

class FakeDevice final : public VirtioDevice {
 public:
  static constexpr uint64_t kOffered = (uint64_t{1} << 1) | (uint64_t{1} << 9);
  uint32_t device_id() const override { return 2; }
  uint64_t features() const override { return kOffered; }
  uint16_t queue_count() const override { return 2; }
  uint16_t queue_max_size() const override { return 16; }
  void read_config(uint64_t offset, std::span<uint8_t> data) override {
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(0xc0 + offset + i);
  }
  void activate(VirtioMmio& transport, uint64_t features) override {
    transport_ = &transport;
    activated_with = features;
  }
  Result<void> notify(uint16_t queue) override {
    notified.push_back(queue);
    if (fail_next) return make_error("the request header is malformed");
    auto chain = transport_->queue(queue).pop();
    if (!chain) return chain.error();
    if (*chain) {
      if (auto r = transport_->queue(queue).push_used((*chain)->head, 0); !r) return r;
      transport_->signal_used(queue);
    }
    return {};
  }
  void reset() override { ++resets; }

  std::optional<uint64_t> activated_with;
  std::vector<uint16_t> notified;
  bool fail_next = false;
  int resets = 0;

 private:
  VirtioMmio* transport_ = nullptr;
};

class Irqs final : public IrqSink {
 public:
  void set_irq_level(uint8_t irq, bool high) override { level[irq] = high; }
  bool level[16] = {};
};

class VirtioMmioTest : public ::testing::Test {
 protected:
  static constexpr uint8_t kIrq = 5;

  uint32_t read(uint64_t offset) {
    uint32_t value = 0;
    transport_.read(offset, {reinterpret_cast<uint8_t*>(&value), 4});
    return value;
  }
  void write(uint64_t offset, uint32_t value) {
    transport_.write(offset, {reinterpret_cast<const uint8_t*>(&value), 4});
  }
  // The driver's initialization (section 3.1.1) up to FEATURES_OK, accepting `features`.
  void negotiate(uint64_t features) {
    write(VirtioMmio::kStatus, 0);
    write(VirtioMmio::kStatus, VirtioMmio::kStatusAcknowledge);
    write(VirtioMmio::kStatus, VirtioMmio::kStatusAcknowledge | VirtioMmio::kStatusDriver);
    for (uint32_t word = 0; word < 2; ++word) {
      write(VirtioMmio::kDriverFeaturesSel, word);
      write(VirtioMmio::kDriverFeatures, static_cast<uint32_t>(features >> (32 * word)));
    }
    write(VirtioMmio::kStatus, kDriverStatus | VirtioMmio::kStatusFeaturesOk);
  }
  // Queue 0 at fixed addresses, size 8.
  void set_up_queue(uint64_t desc = 0x1000) {
    write(VirtioMmio::kQueueSel, 0);
    write(VirtioMmio::kQueueNum, 8);
    write(VirtioMmio::kQueueDescLow, static_cast<uint32_t>(desc));
    write(VirtioMmio::kQueueDescHigh, static_cast<uint32_t>(desc >> 32));
    write(VirtioMmio::kQueueDriverLow, 0x2000);
    write(VirtioMmio::kQueueDeviceLow, 0x3000);
    write(VirtioMmio::kQueueReady, 1);
  }
  void start() {
    negotiate(FakeDevice::kOffered | VirtioMmio::kFeatureVersion1);
    set_up_queue();
    write(VirtioMmio::kStatus,
          kDriverStatus | VirtioMmio::kStatusFeaturesOk | VirtioMmio::kStatusDriverOk);
  }

  static constexpr uint32_t kDriverStatus =
      VirtioMmio::kStatusAcknowledge | VirtioMmio::kStatusDriver;
  GuestMemory memory_ = GuestMemory::allocate(1 << 20).value();
  FakeDevice device_;
  Irqs irqs_;
  VirtioMmio transport_{device_, memory_, IrqLine(irqs_, kIrq)};
};

TEST_F(VirtioMmioTest, IdentifiesAsAModernVirtioMmioDevice) {
  EXPECT_EQ(read(VirtioMmio::kMagicValue), 0x74726976u);
  EXPECT_EQ(read(VirtioMmio::kVersion), 2u);
  EXPECT_EQ(read(VirtioMmio::kDeviceId), 2u);
  EXPECT_EQ(read(VirtioMmio::kVendorId), VirtioMmio::kVendor);
  uint8_t config[3];
  transport_.read(VirtioMmio::kConfig + 4, config);
  EXPECT_EQ(config[0], 0xc4);
  EXPECT_EQ(config[2], 0xc6);
}

TEST_F(VirtioMmioTest, OffersItsFeaturesAndVersion1) {
  write(VirtioMmio::kDeviceFeaturesSel, 0);
  EXPECT_EQ(read(VirtioMmio::kDeviceFeatures), static_cast<uint32_t>(FakeDevice::kOffered));
  write(VirtioMmio::kDeviceFeaturesSel, 1);
  EXPECT_EQ(read(VirtioMmio::kDeviceFeatures), 1u);  // VIRTIO_F_VERSION_1 is bit 32
  write(VirtioMmio::kDeviceFeaturesSel, 2);
  EXPECT_EQ(read(VirtioMmio::kDeviceFeatures), 0u);
}

TEST_F(VirtioMmioTest, AcceptsASubsetOfItsFeaturesWithVersion1) {
  negotiate((uint64_t{1} << 9) | VirtioMmio::kFeatureVersion1);
  EXPECT_TRUE(read(VirtioMmio::kStatus) & VirtioMmio::kStatusFeaturesOk);
  EXPECT_EQ(transport_.negotiated_features(), (uint64_t{1} << 9) | VirtioMmio::kFeatureVersion1);
}

TEST_F(VirtioMmioTest, RefusesUnofferedFeaturesAndLegacyDrivers) {
  negotiate((uint64_t{1} << 5) | VirtioMmio::kFeatureVersion1);  // bit 5 was not offered
  EXPECT_FALSE(read(VirtioMmio::kStatus) & VirtioMmio::kStatusFeaturesOk);
  negotiate(uint64_t{1} << 9);  // no VERSION_1: a legacy driver
  EXPECT_FALSE(read(VirtioMmio::kStatus) & VirtioMmio::kStatusFeaturesOk);
}

TEST_F(VirtioMmioTest, ANotifiedQueueIsServedAndInterruptsUntilAcknowledged) {
  start();
  ASSERT_TRUE(device_.activated_with.has_value());
  EXPECT_TRUE(transport_.active());
  ASSERT_TRUE(memory_.write_object(uint64_t{0x1000}, uint64_t{0x8000}));  // desc 0: 8 bytes
  ASSERT_TRUE(memory_.write_object(uint64_t{0x1008}, uint32_t{8}));
  ASSERT_TRUE(memory_.write_object(uint64_t{0x2004}, uint16_t{0}));  // ring[0] = head 0
  ASSERT_TRUE(memory_.write_object(uint64_t{0x2002}, uint16_t{1}));  // idx = 1
  write(VirtioMmio::kQueueNotify, 0);
  EXPECT_EQ(device_.notified, (std::vector<uint16_t>{0}));
  EXPECT_EQ(read(VirtioMmio::kInterruptStatus), VirtioMmio::kInterruptUsedBuffer);
  EXPECT_TRUE(irqs_.level[kIrq]);
  write(VirtioMmio::kInterruptAck, VirtioMmio::kInterruptUsedBuffer);
  EXPECT_EQ(read(VirtioMmio::kInterruptStatus), 0u);
  EXPECT_FALSE(irqs_.level[kIrq]);
}

TEST_F(VirtioMmioTest, QueueSetupMistakesBreakTheDeviceWithAReason) {
  negotiate(FakeDevice::kOffered | VirtioMmio::kFeatureVersion1);
  write(VirtioMmio::kQueueSel, 0);
  write(VirtioMmio::kQueueNum, 12);
  EXPECT_TRUE(transport_.broken());
  EXPECT_THAT(transport_.failure().value_or(""), HasSubstr("size 12 is not a power of two"));
  EXPECT_TRUE(read(VirtioMmio::kStatus) & VirtioMmio::kStatusNeedsReset);
  EXPECT_EQ(read(VirtioMmio::kInterruptStatus), VirtioMmio::kInterruptConfigChange);

  negotiate(FakeDevice::kOffered | VirtioMmio::kFeatureVersion1);  // starts with a reset
  EXPECT_FALSE(transport_.broken());
  EXPECT_FALSE(transport_.failure().has_value());
  set_up_queue(uint64_t{1} << 40);  // the descriptor table outside RAM
  EXPECT_TRUE(transport_.broken());
  EXPECT_THAT(transport_.failure().value_or(""), HasSubstr("outside guest RAM"));
  EXPECT_EQ(read(VirtioMmio::kQueueReady), 0u);
}

TEST_F(VirtioMmioTest, ANarrowRegisterAccessBreaksTheDevice) {
  const uint16_t half = 1;
  transport_.write(VirtioMmio::kStatus, {reinterpret_cast<const uint8_t*>(&half), 2});
  EXPECT_TRUE(transport_.broken());
  EXPECT_THAT(transport_.failure().value_or(""), HasSubstr("2-byte access"));
}

TEST_F(VirtioMmioTest, DriverOkWithoutFeaturesOkBreaksTheDevice) {
  write(VirtioMmio::kStatus, kDriverStatus);
  write(VirtioMmio::kStatus, kDriverStatus | VirtioMmio::kStatusDriverOk);
  EXPECT_TRUE(transport_.broken());
  EXPECT_FALSE(device_.activated_with.has_value());
}

TEST_F(VirtioMmioTest, ADeviceErrorBreaksItUntilTheDriverResetsIt) {
  start();
  device_.fail_next = true;
  write(VirtioMmio::kQueueNotify, 0);
  EXPECT_TRUE(transport_.broken());
  EXPECT_THAT(transport_.failure().value_or(""), HasSubstr("malformed"));
  device_.fail_next = false;
  write(VirtioMmio::kQueueNotify, 0);  // ignored while broken
  EXPECT_EQ(device_.notified.size(), 1u);
  const int resets = device_.resets;
  write(VirtioMmio::kStatus, 0);
  EXPECT_EQ(device_.resets, resets + 1);
  EXPECT_EQ(read(VirtioMmio::kStatus), 0u);
  EXPECT_FALSE(irqs_.level[kIrq]);
}

TEST_F(VirtioMmioTest, NotifyingAQueueThatIsNotSetUpBreaksTheDevice) {
  start();
  write(VirtioMmio::kQueueNotify, 1);
  EXPECT_THAT(transport_.failure().value_or(""), HasSubstr("queue 1, which is not set up"));
}

// A state transfer's load: the registers and ring positions of a started transport arrive on
// another machine's, which goes on from there; the device is activated again, and the IRQ line
// is left alone (its level travels with the interrupt controller's state).
TEST_F(VirtioMmioTest, ALoadedStateIsTheCapturedOneAndActivatesTheDevice) {
  start();
  ASSERT_TRUE(memory_.write_object(uint64_t{0x1000}, uint64_t{0x8000}));
  ASSERT_TRUE(memory_.write_object(uint64_t{0x1008}, uint32_t{8}));
  ASSERT_TRUE(memory_.write_object(uint64_t{0x2004}, uint16_t{0}));
  ASSERT_TRUE(memory_.write_object(uint64_t{0x2002}, uint16_t{1}));
  write(VirtioMmio::kQueueNotify, 0);
  const VirtioTransportState state = transport_.capture();
  EXPECT_EQ(state.queues[0].next_avail, 1);
  EXPECT_EQ(state.queues[0].used_index, 1);
  EXPECT_TRUE(state.activated);

  FakeDevice device;
  Irqs irqs;
  VirtioMmio copy(device, memory_, IrqLine(irqs, kIrq));
  ASSERT_TRUE(copy.load(state));
  EXPECT_EQ(copy.capture(), state);
  EXPECT_TRUE(copy.active());
  EXPECT_EQ(device.activated_with, device_.activated_with);
  EXPECT_FALSE(irqs.level[kIrq]) << "a load drove the IRQ line";
  uint32_t status = 0;
  copy.read(VirtioMmio::kInterruptStatus, {reinterpret_cast<uint8_t*>(&status), 4});
  EXPECT_EQ(status, VirtioMmio::kInterruptUsedBuffer);
}

TEST_F(VirtioMmioTest, AStateThatDoesNotFitTheDeviceLoadsNothing) {
  start();
  const VirtioTransportState good = transport_.capture();
  FakeDevice device;
  Irqs irqs;
  VirtioMmio copy(device, memory_, IrqLine(irqs, kIrq));
  auto refused = [&](VirtioTransportState bad, const char* why) {
    auto r = copy.load(bad);
    ASSERT_FALSE(r) << why;
    EXPECT_THAT(r.error().message, HasSubstr("virtio state")) << why;
    EXPECT_EQ(copy.capture(), VirtioMmio(device, memory_, IrqLine(irqs, kIrq)).capture()) << why;
    EXPECT_FALSE(device.activated_with.has_value()) << why;
  };
  VirtioTransportState bad = good;
  bad.queues.pop_back();
  refused(bad, "one queue short");
  bad = good;
  bad.queues[0].size = 12;
  bad.queues[0].layout.size = 12;
  refused(bad, "a size that is not a power of two");
  bad = good;
  bad.queues[0].size = bad.queues[0].layout.size = 32;
  refused(bad, "a size beyond the device's");
  bad = good;
  bad.queues[0].layout.used = memory_.size() - 4;
  refused(bad, "a ring outside RAM");
  bad = good;
  bad.driver_features |= uint64_t{1} << 5;
  refused(bad, "a feature the device does not offer");
  bad = good;
  bad.status |= 0x10;
  refused(bad, "an unknown status bit");
  bad = good;
  bad.status &= ~VirtioMmio::kStatusDriverOk;
  refused(bad, "activated without DRIVER_OK");
}

}  // namespace
}  // namespace ftvm
