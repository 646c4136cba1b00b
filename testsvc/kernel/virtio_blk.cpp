#include "kernel/virtio_blk.h"

#include <stddef.h>

#include "kernel/cpu.h"
#include "kernel/panic.h"
#include "kernel/sched.h"
#include "kernel/virtio_mmio.h"
#include "testsvc/abi.h"

namespace testsvc::kernel::virtio_blk {
namespace {

using virtio::Address;
using virtio::Barrier;
using virtio::kDescNext;
using virtio::kDescWrite;

constexpr virtio::Device kDevice{abi::kVirtioBlkGpa};
constexpr uint32_t kFeatureFlush = 1u << 9;  // VIRTIO_BLK_F_FLUSH, in word 0
constexpr uint32_t kTypeIn = 0, kTypeOut = 1, kTypeFlush = 4;

constexpr uint16_t kQueueSize = 8;

struct RequestHeader {
  uint32_t type;
  uint32_t reserved;
  uint64_t sector;
};

constinit virtio::DescriptorTable<kQueueSize> g_descriptors = {};
constinit virtio::DriverRing<kQueueSize> g_driver_ring = {};
constinit virtio::DeviceRing<kQueueSize> g_device_ring = {};
constinit RequestHeader g_header = {};
constinit volatile uint8_t g_status = 0;
constinit uint16_t g_used_seen = 0;
constinit bool g_present = false;
constinit bool g_broken = false;
constinit uint64_t g_sectors = 0;
constinit sched::Thread* g_waiter = nullptr;

// The threads that issue requests (the disk workload, the net thread for the service's log)
// take turns: the one request in flight is the owner's, and a release hands ownership straight
// to the longest waiter, so a burst of requests from one cannot starve the other.
constexpr size_t kMaxQueued = 4;
constinit sched::Thread* g_owner = nullptr;
constinit sched::Thread* g_queued[kMaxQueued] = {};
constinit size_t g_queued_count = 0;

void Acquire() {
  IrqGuard guard;
  sched::Thread* self = sched::Current();
  if (g_owner == nullptr) {
    g_owner = self;
    return;
  }
  if (g_queued_count == kMaxQueued) Panic("virtio_blk: too many waiting threads");
  g_queued[g_queued_count++] = self;
  while (g_owner != self) sched::Block();
}

void Release() {
  IrqGuard guard;
  if (g_queued_count == 0) {
    g_owner = nullptr;
    return;
  }
  g_owner = g_queued[0];
  for (size_t i = 1; i < g_queued_count; ++i) g_queued[i - 1] = g_queued[i];
  --g_queued_count;
  sched::Wake(g_owner);
}

// Holds the turn for one request.
class Turn {
 public:
  Turn() { Acquire(); }
  ~Turn() { Release(); }
  Turn(const Turn&) = delete;
  Turn& operator=(const Turn&) = delete;
};

// Publishes the chain at descriptor 0 and blocks until the device has returned it.
uint8_t Submit() {
  g_status = kBroken;
  Barrier();
  virtio::Publish(g_driver_ring, 0);
  kDevice.Notify(0);  // an exit: everything above is in guest RAM for the device
  {
    IrqGuard guard;
    while (virtio::Load(g_device_ring.index) == g_used_seen && !g_broken) {
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
  Turn turn;
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
  if (!kDevice.Is(virtio::kDeviceIdBlock)) return false;
  if (!kDevice.Negotiate(0, kFeatureFlush) ||
      !kDevice.SetUpQueue(0, g_descriptors, g_driver_ring, g_device_ring)) {
    kDevice.Fail();
    return false;
  }
  g_sectors = kDevice.Reg(virtio::kConfig) | (uint64_t{kDevice.Reg(virtio::kConfig + 4)} << 32);
  kDevice.SetDriverOk();
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
  Turn turn;
  g_header = {kTypeFlush, 0, 0};
  g_descriptors.entries[0] = {Address(&g_header), sizeof g_header, kDescNext, 1};
  g_descriptors.entries[1] = {Address(&g_status), 1, kDescWrite, 0};
  return Submit();
}

void OnInterrupt() {
  if (!g_present) return;
  const uint32_t status = kDevice.AcknowledgeInterrupt();
  if ((status & virtio::kInterruptConfigChange) && kDevice.NeedsReset()) g_broken = true;
  if (g_waiter != nullptr) sched::Wake(g_waiter);
}

}  // namespace testsvc::kernel::virtio_blk
