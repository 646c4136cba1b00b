// A split virtqueue (virtio 1.x, section 2.7) in guest RAM, seen from the device. Everything in
// it is written by the guest, so every read is checked: ring addresses and every buffer lie in
// guest RAM (overflow included), indices stay below the queue size, a chain is never longer
// than the queue (so a descriptor loop ends), device-readable buffers come before
// device-writable ones, and indirect descriptors, which no device here offers, are refused.
// A violation is an error, after which the device must be reset (DEVICE_NEEDS_RESET): the
// VMM never follows a bad pointer and never crashes on one.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "vmm/guest_memory.h"
#include "vmm/result.h"

namespace ftvm {

struct VirtqueueLayout {
  uint16_t size = 0;   // a power of two
  uint64_t desc = 0;   // descriptor table: 16 bytes each, 16-byte aligned
  uint64_t avail = 0;  // driver ring: 6 + 2 * size bytes, 2-byte aligned
  uint64_t used = 0;   // device ring: 6 + 8 * size bytes, 4-byte aligned
  bool operator==(const VirtqueueLayout&) const = default;
};

// One guest buffer of a chain.
struct VirtqueueBuffer {
  uint64_t gpa = 0;
  uint32_t length = 0;
  bool operator==(const VirtqueueBuffer&) const = default;
};

// A descriptor chain the driver made available: what the device reads, then what it writes.
struct DescriptorChain {
  uint16_t head = 0;
  std::vector<VirtqueueBuffer> readable;
  std::vector<VirtqueueBuffer> writable;
  uint64_t readable_bytes = 0;
  uint64_t writable_bytes = 0;
};

// A chain's buffers' bytes, in order: `total` of them (the chain's sum, checked when it was
// popped). The copy is the device's bounce buffer: the guest may change its pages afterwards.
Result<std::vector<uint8_t>> gather(const GuestMemory& memory,
                                    const std::vector<VirtqueueBuffer>& buffers, uint64_t total);
// Writes `bytes` across the buffers in order (their total must hold them).
Result<void> scatter(const GuestMemory& memory, const std::vector<VirtqueueBuffer>& buffers,
                     std::span<const uint8_t> bytes);

class Virtqueue {
 public:
  // Flags of a descriptor (VIRTQ_DESC_F_*) and of the driver ring.
  static constexpr uint16_t kDescNext = 1;
  static constexpr uint16_t kDescWrite = 2;
  static constexpr uint16_t kDescIndirect = 4;
  static constexpr uint16_t kAvailNoInterrupt = 1;

  // Checks the layout against guest RAM. `memory` must outlive the queue.
  static Result<Virtqueue> create(const GuestMemory& memory, VirtqueueLayout layout);

  // The next chain the driver made available, or std::nullopt when there is none.
  Result<std::optional<DescriptorChain>> pop();
  // Returns a chain to the driver: `written` bytes of its writable buffers were filled.
  Result<void> push_used(uint16_t head, uint32_t written);
  // Whether the driver asked for no interrupts on used buffers (it polls).
  bool interrupts_suppressed() const;
  // Where the device stands: the next driver-ring entry it reads, the device ring's idx. A
  // state transfer moves them to the joined backup's queue (restore_position: any values are
  // valid, the ring indices wrap).
  uint16_t next_avail() const { return next_avail_; }
  uint16_t used_index() const { return used_index_; }
  void restore_position(uint16_t next_avail, uint16_t used_index) {
    next_avail_ = next_avail;
    used_index_ = used_index;
  }

 private:
  Virtqueue(const GuestMemory& memory, VirtqueueLayout layout)
      : memory_(&memory), layout_(layout) {}
  Result<DescriptorChain> walk(uint16_t head) const;
  template <typename T>
  T load(uint64_t gpa) const;

  const GuestMemory* memory_;
  VirtqueueLayout layout_;
  uint16_t next_avail_ = 0;  // the driver ring entry to read next
  uint16_t used_index_ = 0;  // the device ring's idx, as this side last wrote it
};

}  // namespace ftvm
