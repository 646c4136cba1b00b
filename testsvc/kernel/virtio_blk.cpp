#include "kernel/virtio_blk.h"

#include <stddef.h>

#include "kernel/cpu.h"
#include "kernel/sched.h"
#include "testsvc/abi.h"

namespace testsvc::kernel::virtio_blk {
namespace {

// virtio-mmio registers (virtio 1.2, 4.2.2) and values.
constexpr uint64_t kMagicValue = 0x000, kVersion = 0x004, kDeviceId = 0x008;
constexpr uint64_t kDeviceFeatures = 0x010, kDeviceFeaturesSel = 0x014;
constexpr uint64_t kDriverFeatures = 0x020, kDriverFeaturesSel = 0x024;
constexpr uint64_t kQueueSel = 0x030, kQueueNumMax = 0x034, kQueueNum = 0x038;
constexpr uint64_t kQueueReady = 0x044, kQueueNotify = 0x050;
constexpr uint64_t kInterruptStatus = 0x060, kInterruptAck = 0x064, kStatus = 0x070;
constexpr uint64_t kQueueDescLow = 0x080, kQueueDescHigh = 0x084;
constexpr uint64_t kQueueDriverLow = 0x090, kQueueDriverHigh = 0x094;
constexpr uint64_t kQueueDeviceLow = 0x0a0, kQueueDeviceHigh = 0x0a4;
constexpr uint64_t kConfig = 0x100;
constexpr uint32_t kStatusAcknowledge = 1, kStatusDriver = 2, kStatusDriverOk = 4;
constexpr uint32_t kStatusFeaturesOk = 8, kStatusNeedsReset = 64;
constexpr uint32_t kInterruptConfigChange = 2;
constexpr uint32_t kFeatureFlushBit = 9;  // in word 0
constexpr uint32_t kFeatureVersion1 = 1;  // bit 32: bit 0 of word 1
constexpr uint16_t kDescNext = 1, kDescWrite = 2;
constexpr uint32_t kTypeIn = 0, kTypeOut = 1, kTypeFlush = 4;

constexpr uint16_t kQueueSize = 8;

struct Descriptor {
  uint64_t address;
  uint32_t length;
  uint16_t flags;
  uint16_t next;
};
struct alignas(16) DescriptorTable {
  Descriptor entries[kQueueSize];
};
struct alignas(2) DriverRing {
  uint16_t flags;
  uint16_t index;
  uint16_t ring[kQueueSize];
  uint16_t used_event;
};
struct UsedElement {
  uint32_t id;
  uint32_t length;
};
struct alignas(4) DeviceRing {
  uint16_t flags;
  uint16_t index;
  UsedElement ring[kQueueSize];
  uint16_t avail_event;
};
struct RequestHeader {
  uint32_t type;
  uint32_t reserved;
  uint64_t sector;
};

constinit DescriptorTable g_descriptors = {};
constinit DriverRing g_driver_ring = {};
constinit DeviceRing g_device_ring = {};
constinit RequestHeader g_header = {};
constinit volatile uint8_t g_status = 0;
constinit uint16_t g_used_seen = 0;
constinit bool g_present = false;
constinit bool g_broken = false;
constinit uint64_t g_sectors = 0;
constinit sched::Thread* g_waiter = nullptr;

uint32_t Reg(uint64_t offset) {
  return *reinterpret_cast<volatile uint32_t*>(abi::kVirtioBlkGpa + offset);
}
void SetReg(uint64_t offset, uint32_t value) {
  *reinterpret_cast<volatile uint32_t*>(abi::kVirtioBlkGpa + offset) = value;
}
void Barrier() {
  asm volatile("" : : : "memory");
}
uint64_t Address(const volatile void* p) {
  return reinterpret_cast<uint64_t>(p);  // identity-mapped: virtual = guest-physical
}
void SetAddress(uint64_t low_register, const volatile void* p) {
  SetReg(low_register, static_cast<uint32_t>(Address(p)));
  SetReg(low_register + 4, static_cast<uint32_t>(Address(p) >> 32));
}

bool Negotiate() {
  SetReg(kStatus, 0);
  SetReg(kStatus, kStatusAcknowledge);
  SetReg(kStatus, kStatusAcknowledge | kStatusDriver);
  SetReg(kDeviceFeaturesSel, 1);
  if (!(Reg(kDeviceFeatures) & kFeatureVersion1)) return false;
  SetReg(kDeviceFeaturesSel, 0);
  const uint32_t flush = Reg(kDeviceFeatures) & (1u << kFeatureFlushBit);
  SetReg(kDriverFeaturesSel, 0);
  SetReg(kDriverFeatures, flush);
  SetReg(kDriverFeaturesSel, 1);
  SetReg(kDriverFeatures, kFeatureVersion1);
  SetReg(kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
  return (Reg(kStatus) & kStatusFeaturesOk) != 0;
}

bool SetUpQueue() {
  SetReg(kQueueSel, 0);
  if (Reg(kQueueNumMax) < kQueueSize) return false;
  SetReg(kQueueNum, kQueueSize);
  SetAddress(kQueueDescLow, &g_descriptors);
  SetAddress(kQueueDriverLow, &g_driver_ring);
  SetAddress(kQueueDeviceLow, &g_device_ring);
  SetReg(kQueueReady, 1);
  return Reg(kQueueReady) == 1;
}

// Publishes the chain at descriptor 0 and blocks until the device has returned it.
uint8_t Submit() {
  g_status = kBroken;
  Barrier();
  g_driver_ring.ring[g_driver_ring.index % kQueueSize] = 0;
  Barrier();
  g_driver_ring.index = static_cast<uint16_t>(g_driver_ring.index + 1);
  Barrier();
  SetReg(kQueueNotify, 0);  // an exit: everything above is in guest RAM for the device
  {
    IrqGuard guard;
    while (*reinterpret_cast<volatile uint16_t*>(&g_device_ring.index) == g_used_seen &&
           !g_broken) {
      g_waiter = sched::Current();
      sched::Block();
    }
    g_waiter = nullptr;
  }
  if (g_broken) return kBroken;
  g_used_seen = static_cast<uint16_t>(g_used_seen + 1);
  return g_status;
}

uint8_t Transfer(uint32_t type, uint64_t sector, uint8_t* buffer, uint32_t bytes) {
  if (!g_present || g_broken) return kBroken;
  g_header = {type, 0, sector};
  g_descriptors.entries[0] = {Address(&g_header), sizeof g_header, kDescNext, 1};
  g_descriptors.entries[1] = {Address(buffer), bytes,
                              static_cast<uint16_t>(kDescNext | (type == kTypeIn ? kDescWrite : 0)),
                              2};
  g_descriptors.entries[2] = {Address(&g_status), 1, kDescWrite, 0};
  return Submit();
}

}  // namespace

bool Init() {
  if (Reg(kMagicValue) != 0x74726976 || Reg(kVersion) != 2 || Reg(kDeviceId) != 2) return false;
  if (!Negotiate() || !SetUpQueue()) {
    SetReg(kStatus, 128);  // FAILED
    return false;
  }
  g_sectors = Reg(kConfig) | (uint64_t{Reg(kConfig + 4)} << 32);
  SetReg(kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
  g_present = true;
  return true;
}

bool Present() {
  return g_present;
}

uint64_t Sectors() {
  return g_sectors;
}

uint8_t Read(uint64_t sector, uint8_t* buffer, uint32_t bytes) {
  return Transfer(kTypeIn, sector, buffer, bytes);
}

uint8_t Write(uint64_t sector, const uint8_t* buffer, uint32_t bytes) {
  // The device only reads a write's data; the descriptor type has no const.
  return Transfer(kTypeOut, sector, const_cast<uint8_t*>(buffer), bytes);
}

uint8_t Flush() {
  if (!g_present || g_broken) return kBroken;
  g_header = {kTypeFlush, 0, 0};
  g_descriptors.entries[0] = {Address(&g_header), sizeof g_header, kDescNext, 1};
  g_descriptors.entries[1] = {Address(&g_status), 1, kDescWrite, 0};
  return Submit();
}

void OnInterrupt() {
  if (!g_present) return;
  const uint32_t status = Reg(kInterruptStatus);
  SetReg(kInterruptAck, status);
  if ((status & kInterruptConfigChange) && (Reg(kStatus) & kStatusNeedsReset)) g_broken = true;
  if (g_waiter != nullptr) sched::Wake(g_waiter);
}

}  // namespace testsvc::kernel::virtio_blk
