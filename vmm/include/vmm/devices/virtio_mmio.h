// The virtio-mmio transport, virtio 1.x "modern" register layout (virtio 1.2, section 4.2.2):
// feature negotiation, queue setup, notifications, interrupt status and acknowledgement, the
// device status and configuration space, in front of one VirtioDevice.
//
// The guest drives all of it with MMIO accesses, which are exits: everything here happens on
// the vCPU thread at a deterministic point. A driver that breaks the rules (a register access
// that is not 32 bits wide, a queue set up outside RAM, a bad descriptor chain the device
// finds) marks the device DEVICE_NEEDS_RESET with a config-change interrupt and a message
// (failure()), and the device does nothing more until the driver resets it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vmm/devices/io_device.h"
#include "vmm/devices/irq.h"
#include "vmm/devices/virtio_state.h"
#include "vmm/devices/virtqueue.h"
#include "vmm/guest_memory.h"
#include "vmm/result.h"

namespace ftvm {

class VirtioMmio;

// What a device type (block, network) adds to the transport.
class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;
  virtual uint32_t device_id() const = 0;
  // The device's feature bits, VIRTIO_F_VERSION_1 excluded (the transport adds it).
  virtual uint64_t features() const = 0;
  virtual uint16_t queue_count() const = 0;
  virtual uint16_t queue_max_size() const = 0;
  virtual void read_config(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void write_config(uint64_t, std::span<const uint8_t>) {}
  // The driver set DRIVER_OK: `transport` hands out the queues; `features` were accepted.
  virtual void activate(VirtioMmio& transport, uint64_t features) = 0;
  // The driver notified `queue` (only after activate). An error breaks the device.
  virtual Result<void> notify(uint16_t queue) = 0;
  // Back to the state before activate(): the driver reset the device.
  virtual void reset() = 0;
};

class VirtioMmio final : public IoDevice {
 public:
  // Register offsets.
  static constexpr uint64_t kMagicValue = 0x000;
  static constexpr uint64_t kVersion = 0x004;
  static constexpr uint64_t kDeviceId = 0x008;
  static constexpr uint64_t kVendorId = 0x00c;
  static constexpr uint64_t kDeviceFeatures = 0x010;
  static constexpr uint64_t kDeviceFeaturesSel = 0x014;
  static constexpr uint64_t kDriverFeatures = 0x020;
  static constexpr uint64_t kDriverFeaturesSel = 0x024;
  static constexpr uint64_t kQueueSel = 0x030;
  static constexpr uint64_t kQueueNumMax = 0x034;
  static constexpr uint64_t kQueueNum = 0x038;
  static constexpr uint64_t kQueueReady = 0x044;
  static constexpr uint64_t kQueueNotify = 0x050;
  static constexpr uint64_t kInterruptStatus = 0x060;
  static constexpr uint64_t kInterruptAck = 0x064;
  static constexpr uint64_t kStatus = 0x070;
  static constexpr uint64_t kQueueDescLow = 0x080;
  static constexpr uint64_t kQueueDescHigh = 0x084;
  static constexpr uint64_t kQueueDriverLow = 0x090;
  static constexpr uint64_t kQueueDriverHigh = 0x094;
  static constexpr uint64_t kQueueDeviceLow = 0x0a0;
  static constexpr uint64_t kQueueDeviceHigh = 0x0a4;
  static constexpr uint64_t kConfigGeneration = 0x0fc;
  static constexpr uint64_t kConfig = 0x100;
  // The register window of one device: what a guest-ABI slot is sized by.
  static constexpr uint64_t kWindowBytes = 0x200;

  static constexpr uint32_t kMagic = 0x74726976;   // "virt"
  static constexpr uint32_t kVendor = 0x4d565446;  // "FTVM"

  // Device status bits.
  static constexpr uint32_t kStatusAcknowledge = 1;
  static constexpr uint32_t kStatusDriver = 2;
  static constexpr uint32_t kStatusDriverOk = 4;
  static constexpr uint32_t kStatusFeaturesOk = 8;
  static constexpr uint32_t kStatusNeedsReset = 64;
  static constexpr uint32_t kStatusFailed = 128;
  // Interrupt status bits.
  static constexpr uint32_t kInterruptUsedBuffer = 1;
  static constexpr uint32_t kInterruptConfigChange = 2;

  static constexpr uint64_t kFeatureVersion1 = uint64_t{1} << 32;

  VirtioMmio(VirtioDevice& device, const GuestMemory& memory, IrqLine irq);

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  // For the device, once active: its queues, and the interrupt for buffers it used.
  Virtqueue& queue(uint16_t index);
  void signal_used(uint16_t queue);
  // The device found the driver broke the rules: DEVICE_NEEDS_RESET, a config-change
  // interrupt, and `reason` kept for failure().
  void fail(const std::string& reason);

  uint32_t status() const { return status_; }
  bool active() const { return (status_ & kStatusDriverOk) != 0 && !broken(); }
  bool broken() const { return (status_ & kStatusNeedsReset) != 0; }
  // Why the device needs a reset (the first reason since the last reset).
  const std::optional<std::string>& failure() const { return failure_; }
  uint64_t negotiated_features() const { return driver_features_; }

  // The registers and ring positions (virtio_state.h), and loading those of another machine's
  // transport in front of the same kind of device: checked as the driver's own writes are,
  // rings included, and the device activated again where it had been. An error loads nothing.
  VirtioTransportState capture() const;
  Result<void> load(const VirtioTransportState& state);

 private:
  struct QueueConfig {
    uint16_t size = 0;
    bool ready = false;
    VirtqueueLayout layout;
    std::optional<Virtqueue> queue;
  };

  uint32_t read_register(uint64_t offset) const;
  void write_register(uint64_t offset, uint32_t value);
  void write_status(uint32_t value);
  void set_queue_ready(uint32_t value);
  void set_queue_address(uint64_t offset, uint32_t value);
  QueueConfig* selected();
  const QueueConfig* selected() const;
  uint64_t offered_features() const;
  void reset();
  void raise(uint32_t bits);

  VirtioDevice& device_;
  const GuestMemory& memory_;
  IrqLine irq_;
  uint32_t status_ = 0;
  uint32_t device_features_sel_ = 0;
  uint32_t driver_features_sel_ = 0;
  uint64_t driver_features_ = 0;
  uint32_t queue_sel_ = 0;
  uint32_t interrupt_status_ = 0;
  uint32_t config_generation_ = 0;
  std::vector<QueueConfig> queues_;
  std::optional<std::string> failure_;
  bool activated_ = false;  // the device was handed its queues since the last reset
};

}  // namespace ftvm
