#include "kernel/virtio_net.h"

#include "kernel/cpu.h"
#include "kernel/pit.h"
#include "kernel/sched.h"
#include "kernel/virtio_mmio.h"
#include "testsvc/abi.h"

namespace testsvc::kernel::virtio_net {
namespace {

using virtio::Address;
using virtio::Barrier;
using virtio::Load;

constexpr virtio::Device kDevice{abi::kVirtioNetGpa};
constexpr uint32_t kFeatureMac = 1u << 5;  // VIRTIO_NET_F_MAC, in word 0
constexpr uint32_t kReceiveQueue = 0, kTransmitQueue = 1;
// struct virtio_net_hdr: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset and, with
// VERSION_1 always, num_buffers.
constexpr size_t kHeaderBytes = 12;
// A whole frame with its header: without offloads or mergeable buffers, the size every receive
// buffer should have (5.1.6.3.1).
constexpr size_t kBufferBytes = kHeaderBytes + kMaxFrameBytes;

struct Queue {
  virtio::DescriptorTable<kQueueSize> descriptors;
  virtio::DriverRing<kQueueSize> driver;
  virtio::DeviceRing<kQueueSize> device;
  uint16_t used_seen;           // device ring entries consumed so far (wraps like its index)
  bool device_has[kQueueSize];  // descriptor i is offered to the device, not yet returned
};

constinit Queue g_receive = {};
constinit Queue g_transmit = {};
// Descriptor i of a queue always points at buffer i of that queue.
constinit uint8_t g_receive_buffers[kQueueSize][kBufferBytes] = {};
constinit uint8_t g_transmit_buffers[kQueueSize][kBufferBytes] = {};
constinit uint8_t g_mac[kMacBytes] = {};
constinit bool g_present = false;
constinit bool g_broken = false;
constinit sched::Thread* g_waiter = nullptr;

// A device that returns a descriptor it does not hold, or asks for a reset, gets no more
// requests (there is no recovery: the net thread just stops hearing from it).
void Break() {
  g_broken = true;
}

// Notifies the device of new driver ring entries, unless it said it does not need that.
void Kick(Queue& queue, uint32_t index) {
  // The new driver ring index must be visible before the device ring flags are read (2.7.13).
  virtio::FullBarrier();
  if ((Load(queue.device.flags) & virtio::kUsedNoNotify) == 0) kDevice.Notify(index);
}

// Offers receive buffer `id` (header and frame) to the device. Kick() tells it.
void Offer(uint16_t id) {
  g_receive.device_has[id] = true;
  virtio::Publish(g_receive.driver, id);
}

// The next device ring entry of `queue` if there is one: its descriptor, and the bytes the
// device wrote. A descriptor the device does not hold breaks the device.
bool TakeUsed(Queue& queue, uint16_t* id, uint32_t* written) {
  if (g_broken || Load(queue.device.index) == queue.used_seen) return false;
  Barrier();  // the entry only after the index that published it
  const virtio::UsedElement& element = queue.device.ring[queue.used_seen % kQueueSize];
  const uint32_t used_id = Load(element.id);
  *written = Load(element.length);
  queue.used_seen = static_cast<uint16_t>(queue.used_seen + 1);
  if (used_id >= kQueueSize || !queue.device_has[used_id]) {
    Break();
    return false;
  }
  queue.device_has[used_id] = false;
  *id = static_cast<uint16_t>(used_id);
  return true;
}

// The transmit buffers the device is done with become free again.
void ReclaimTransmitted() {
  uint16_t id = 0;
  uint32_t written = 0;
  while (TakeUsed(g_transmit, &id, &written)) {
  }
}

// A free transmit descriptor (and buffer), or kQueueSize if none is.
uint16_t FreeTransmitSlot() {
  uint16_t slot = 0;
  while (slot < kQueueSize && g_transmit.device_has[slot]) ++slot;
  return slot;
}

// 4.2.2: the configuration may change while it is read; the generation counter tells.
void ReadMac() {
  for (int attempt = 0; attempt < 4; ++attempt) {
    const uint32_t generation = kDevice.Reg(virtio::kConfigGeneration);
    for (size_t i = 0; i < kMacBytes; ++i) g_mac[i] = kDevice.ConfigByte(i);
    if (kDevice.Reg(virtio::kConfigGeneration) == generation) return;
  }
}

// The descriptors, which never change: each points at its own buffer. Every receive buffer
// is offered; transmits are reclaimed by Send, so their completions need no interrupt.
void FillQueues() {
  for (uint16_t i = 0; i < kQueueSize; ++i) {
    g_receive.descriptors.entries[i] = {Address(g_receive_buffers[i]), kBufferBytes,
                                        virtio::kDescWrite, 0};
    g_transmit.descriptors.entries[i] = {Address(g_transmit_buffers[i]), 0, 0, 0};
    Offer(i);
  }
  g_transmit.driver.flags = virtio::kAvailNoInterrupt;
}

}  // namespace

bool Init() {
  if (!kDevice.Is(virtio::kDeviceIdNet)) return false;
  // Without VIRTIO_NET_F_MAC we would have to make up an address: such a card is refused.
  if (!kDevice.Negotiate(kFeatureMac, 0) ||
      !kDevice.SetUpQueue(kReceiveQueue, g_receive.descriptors, g_receive.driver,
                          g_receive.device) ||
      !kDevice.SetUpQueue(kTransmitQueue, g_transmit.descriptors, g_transmit.driver,
                          g_transmit.device)) {
    kDevice.Fail();
    return false;
  }
  ReadMac();
  FillQueues();
  kDevice.SetDriverOk();
  g_present = true;
  // Not before DRIVER_OK (3.1.1): frames the device kept for want of buffers come now.
  Kick(g_receive, kReceiveQueue);
  return true;
}

bool Present() {
  return g_present;
}

const uint8_t* Mac() {
  return g_mac;
}

bool Send(const uint8_t* frame, size_t size) {
  if (!g_present || g_broken || size == 0 || size > kMaxFrameBytes) return false;
  ReclaimTransmitted();
  const uint16_t slot = FreeTransmitSlot();
  if (slot == kQueueSize || g_broken) return false;
  uint8_t* buffer = g_transmit_buffers[slot];
  // An all-zero header: no checksum to complete, no segmentation (and num_buffers 0). The
  // frame by memcpy (rep movsb), not a byte loop: every TCP segment comes through here.
  __builtin_memset(buffer, 0, kHeaderBytes);
  __builtin_memcpy(buffer + kHeaderBytes, frame, size);
  g_transmit.descriptors.entries[slot].length = static_cast<uint32_t>(kHeaderBytes + size);
  g_transmit.device_has[slot] = true;
  Barrier();
  virtio::Publish(g_transmit.driver, slot);
  Kick(g_transmit, kTransmitQueue);  // the VMM takes the frame and returns the buffer here
  return true;
}

size_t ReceiveAll(FrameHandler handler) {
  if (!g_present) return 0;
  size_t count = 0;
  uint16_t id = 0;
  uint32_t written = 0;
  while (TakeUsed(g_receive, &id, &written)) {
    const bool whole = written >= kHeaderBytes && written <= kBufferBytes;
    handler(g_receive_buffers[id] + kHeaderBytes, whole ? written - kHeaderBytes : 0);
    Offer(id);
    ++count;
  }
  if (count != 0 && !g_broken) Kick(g_receive, kReceiveQueue);
  return count;
}

void WaitForFrames(uint64_t until) {
  IrqGuard guard;
  while (!g_present || g_broken || Load(g_receive.device.index) == g_receive.used_seen) {
    if (until != 0 && pit::Ticks() >= until) break;
    g_waiter = sched::Current();
    if (until == 0) {
      sched::Block();
    } else {
      sched::BlockUntil(until);
    }
  }
  g_waiter = nullptr;
}

void OnInterrupt() {
  if (!g_present) return;
  const uint32_t status = kDevice.AcknowledgeInterrupt();
  if ((status & virtio::kInterruptConfigChange) && kDevice.NeedsReset()) Break();
  if (g_waiter != nullptr) sched::Wake(g_waiter);
}

}  // namespace testsvc::kernel::virtio_net
