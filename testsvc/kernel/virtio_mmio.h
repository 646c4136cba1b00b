// What the guest's virtio drivers share: the virtio 1.x MMIO register block (virtio 1.2,
// 4.2.2; version 2, "modern" only), the split virtqueue layout (2.7) and the steps of device
// initialization (3.1.1) that do not depend on the device type.
//
// Registers are only ever accessed as aligned 32-bit words (the VMM's transport breaks the
// device on anything else, docs/devices.md); the device-specific configuration space from
// kConfig may also be read byte by byte.
#pragma once

#include <stdint.h>

namespace testsvc::kernel::virtio {

// Register offsets.
inline constexpr uint64_t kMagicValue = 0x000, kVersion = 0x004, kDeviceId = 0x008;
inline constexpr uint64_t kDeviceFeatures = 0x010, kDeviceFeaturesSel = 0x014;
inline constexpr uint64_t kDriverFeatures = 0x020, kDriverFeaturesSel = 0x024;
inline constexpr uint64_t kQueueSel = 0x030, kQueueNumMax = 0x034, kQueueNum = 0x038;
inline constexpr uint64_t kQueueReady = 0x044, kQueueNotify = 0x050;
inline constexpr uint64_t kInterruptStatus = 0x060, kInterruptAck = 0x064, kStatus = 0x070;
inline constexpr uint64_t kQueueDescLow = 0x080;
inline constexpr uint64_t kQueueDriverLow = 0x090;
inline constexpr uint64_t kQueueDeviceLow = 0x0a0;
inline constexpr uint64_t kConfigGeneration = 0x0fc;
inline constexpr uint64_t kConfig = 0x100;

inline constexpr uint32_t kMagic = 0x74726976;  // "virt"
inline constexpr uint32_t kModernVersion = 2;
inline constexpr uint32_t kDeviceIdNet = 1, kDeviceIdBlock = 2;

// Device status bits.
inline constexpr uint32_t kStatusAcknowledge = 1, kStatusDriver = 2, kStatusDriverOk = 4;
inline constexpr uint32_t kStatusFeaturesOk = 8, kStatusNeedsReset = 64, kStatusFailed = 128;
// InterruptStatus bits.
inline constexpr uint32_t kInterruptUsedBuffer = 1, kInterruptConfigChange = 2;
// VIRTIO_F_VERSION_1 (feature bit 32) is bit 0 of feature word 1.
inline constexpr uint32_t kFeatureVersion1 = 1;

// ---- Split virtqueues (2.7) -------------------------------------------------------------

inline constexpr uint16_t kDescNext = 1, kDescWrite = 2;
inline constexpr uint16_t kAvailNoInterrupt = 1;  // driver ring flags: a hint to the device
inline constexpr uint16_t kUsedNoNotify = 1;      // device ring flags: a hint to the driver

struct Descriptor {
  uint64_t address;
  uint32_t length;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(Descriptor) == 16);

// Queue sizes are powers of two (the transport refuses others). The alignments are the ones
// 2.7 requires of each part.
template <uint16_t Size>
struct alignas(16) DescriptorTable {
  static_assert(Size != 0 && (Size & (Size - 1)) == 0, "queue size must be a power of two");
  Descriptor entries[Size];
};

template <uint16_t Size>
struct alignas(2) DriverRing {  // the "available" ring
  uint16_t flags;
  uint16_t index;
  uint16_t ring[Size];
  uint16_t used_event;
};

struct UsedElement {
  uint32_t id;
  uint32_t length;
};

template <uint16_t Size>
struct alignas(4) DeviceRing {  // the "used" ring
  uint16_t flags;
  uint16_t index;
  UsedElement ring[Size];
  uint16_t avail_event;
};

// Keeps the compiler from moving memory accesses across it. On x86 that is all the ordering
// ring updates need: loads are not reordered with loads, nor stores with stores.
inline void Barrier() {
  asm volatile("" : : : "memory");
}

// A full barrier (a store before it is visible before a load after it), which x86 does not
// give for free. A locked no-op rather than MFENCE, which the image tests count as SSE2.
inline void FullBarrier() {
  asm volatile("lock orq $0, (%%rsp)" : : : "memory", "cc");
}

inline uint64_t Address(const volatile void* p) {
  return reinterpret_cast<uint64_t>(p);  // identity-mapped: virtual = guest-physical
}

// Fields the device writes behind the compiler's back are read through these.
inline uint16_t Load(const uint16_t& field) {
  return *reinterpret_cast<const volatile uint16_t*>(&field);
}
inline uint32_t Load(const uint32_t& field) {
  return *reinterpret_cast<const volatile uint32_t*>(&field);
}

// Publishes descriptor chain `head` in the driver ring: the entry first, then the index that
// makes it visible (2.7.13), each store in that order.
template <uint16_t Size>
void Publish(DriverRing<Size>& ring, uint16_t head) {
  ring.ring[ring.index % Size] = head;
  Barrier();
  *reinterpret_cast<volatile uint16_t*>(&ring.index) = static_cast<uint16_t>(ring.index + 1);
  Barrier();
}

// ---- The register block -----------------------------------------------------------------

class Device {
 public:
  explicit constexpr Device(uint64_t base) : base_(base) {}

  uint32_t Reg(uint64_t offset) const {
    return *reinterpret_cast<volatile uint32_t*>(base_ + offset);
  }
  void SetReg(uint64_t offset, uint32_t value) const {
    *reinterpret_cast<volatile uint32_t*>(base_ + offset) = value;
  }
  uint8_t ConfigByte(uint64_t offset) const {
    return *reinterpret_cast<volatile uint8_t*>(base_ + kConfig + offset);
  }

  // A modern device of type `device_id` answers in this slot (an empty slot reads all ones).
  bool Is(uint32_t device_id) const {
    return Reg(kMagicValue) == kMagic && Reg(kVersion) == kModernVersion &&
           Reg(kDeviceId) == device_id;
  }

  // Resets the device and negotiates VERSION_1 plus, of the features in word 0 (bits 0-31),
  // every `required` one (false if the device lacks one) and whichever `optional` ones it
  // offers; leaves the status at ACKNOWLEDGE | DRIVER | FEATURES_OK. False if the device does
  // not keep FEATURES_OK (it refused), or lacks VERSION_1: then Fail() is the caller's.
  bool Negotiate(uint32_t required, uint32_t optional) const {
    SetReg(kStatus, 0);
    SetReg(kStatus, kStatusAcknowledge);
    SetReg(kStatus, kStatusAcknowledge | kStatusDriver);
    SetReg(kDeviceFeaturesSel, 1);
    if (!(Reg(kDeviceFeatures) & kFeatureVersion1)) return false;
    SetReg(kDeviceFeaturesSel, 0);
    const uint32_t offered = Reg(kDeviceFeatures);
    if ((offered & required) != required) return false;
    SetReg(kDriverFeaturesSel, 0);
    SetReg(kDriverFeatures, offered & (required | optional));
    SetReg(kDriverFeaturesSel, 1);
    SetReg(kDriverFeatures, kFeatureVersion1);
    SetReg(kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
    return (Reg(kStatus) & kStatusFeaturesOk) != 0;
  }

  // Sets up queue `index` with `Size` entries in the given rings and makes it ready.
  template <uint16_t Size>
  bool SetUpQueue(uint32_t index, DescriptorTable<Size>& descriptors, DriverRing<Size>& driver,
                  DeviceRing<Size>& device) const {
    SetReg(kQueueSel, index);
    if (Reg(kQueueNumMax) < Size) return false;  // 0: no such queue
    SetReg(kQueueNum, Size);
    SetAddress(kQueueDescLow, &descriptors);
    SetAddress(kQueueDriverLow, &driver);
    SetAddress(kQueueDeviceLow, &device);
    SetReg(kQueueReady, 1);
    return Reg(kQueueReady) == 1;
  }

  void SetDriverOk() const {
    SetReg(kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
  }
  // Tells the device the driver gave up on it (3.1.1).
  void Fail() const { SetReg(kStatus, kStatusFailed); }

  void Notify(uint32_t queue) const { SetReg(kQueueNotify, queue); }  // an exit

  // The IRQ handler's part: acknowledges every pending cause and returns them. A level-
  // triggered line stays high until this is done, so it comes before the EOI.
  uint32_t AcknowledgeInterrupt() const {
    const uint32_t status = Reg(kInterruptStatus);
    SetReg(kInterruptAck, status);
    return status;
  }
  // After a configuration change interrupt: the device broke and wants a reset (2.1.2).
  bool NeedsReset() const { return (Reg(kStatus) & kStatusNeedsReset) != 0; }

 private:
  void SetAddress(uint64_t low_register, const volatile void* p) const {
    SetReg(low_register, static_cast<uint32_t>(Address(p)));
    SetReg(low_register + 4, static_cast<uint32_t>(Address(p) >> 32));
  }

  uint64_t base_;
};

}  // namespace testsvc::kernel::virtio
