#include "vmm/devices/virtqueue.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace ftvm {
namespace {

constexpr uint64_t kDescriptorBytes = 16;

Result<void> check_ring(const GuestMemory& memory, const char* name, uint64_t gpa, uint64_t bytes,
                        uint64_t alignment) {
  if (gpa % alignment != 0) {
    return make_error(
        fmt::format("the {} ring at {:#x} is not {}-byte aligned", name, gpa, alignment));
  }
  if (!memory.contains(gpa, bytes)) {
    return make_error(
        fmt::format("the {} ring at {:#x} ({} bytes) is outside guest RAM", name, gpa, bytes));
  }
  return {};
}

}  // namespace

Result<Virtqueue> Virtqueue::create(const GuestMemory& memory, VirtqueueLayout layout) {
  const uint64_t size = layout.size;
  if (size == 0 || (size & (size - 1)) != 0) {
    return make_error(fmt::format("queue size {} is not a power of two", size));
  }
  if (auto r = check_ring(memory, "descriptor", layout.desc, kDescriptorBytes * size, 16); !r) {
    return r.error();
  }
  if (auto r = check_ring(memory, "driver", layout.avail, 6 + 2 * size, 2); !r) return r.error();
  if (auto r = check_ring(memory, "device", layout.used, 6 + 8 * size, 4); !r) return r.error();
  return Virtqueue(memory, layout);
}

// The rings were checked to lie in RAM at creation, so these reads cannot fail; the guest may
// change the bytes at any time, which is why each is read once and then used as a value.
template <typename T>
T Virtqueue::load(uint64_t gpa) const {
  T value;
  std::memcpy(&value, memory_->host_base() + gpa, sizeof(T));
  return value;
}

Result<std::optional<DescriptorChain>> Virtqueue::pop() {
  const uint16_t avail_index = load<uint16_t>(layout_.avail + 2);
  const uint16_t pending = static_cast<uint16_t>(avail_index - next_avail_);
  if (pending == 0) return std::optional<DescriptorChain>();
  if (pending > layout_.size) {
    return make_error(fmt::format(
        "the driver ring's index {} claims {} new buffers, more than the queue's {} entries",
        avail_index, pending, layout_.size));
  }
  // Read the ring entry only after the index that published it.
  std::atomic_thread_fence(std::memory_order_acquire);
  const uint16_t head = load<uint16_t>(
      layout_.avail + 4 + 2 * uint64_t{static_cast<uint16_t>(next_avail_ % layout_.size)});
  auto chain = walk(head);
  if (!chain) return chain.error();
  ++next_avail_;
  return std::optional<DescriptorChain>(std::move(*chain));
}

Result<DescriptorChain> Virtqueue::walk(uint16_t head) const {
  DescriptorChain chain;
  chain.head = head;
  uint16_t index = head;
  for (uint32_t count = 0;; ++count) {
    if (index >= layout_.size) {
      return make_error(
          fmt::format("descriptor index {} of chain {} is past the queue's {} entries", index, head,
                      layout_.size));
    }
    if (count == layout_.size) {
      return make_error(
          fmt::format("chain {} is longer than the queue's {} entries: the descriptors form a loop",
                      head, layout_.size));
    }
    const uint64_t at = layout_.desc + kDescriptorBytes * index;
    const uint64_t gpa = load<uint64_t>(at);
    const uint32_t length = load<uint32_t>(at + 8);
    const uint16_t flags = load<uint16_t>(at + 12);
    const uint16_t next = load<uint16_t>(at + 14);
    if (flags & kDescIndirect) {
      return make_error(
          fmt::format("descriptor {} of chain {} is indirect, a feature this device does not offer",
                      index, head));
    }
    if (!memory_->contains(gpa, length)) {
      return make_error(
          fmt::format("descriptor {} of chain {} points at {:#x}+{:#x}, outside guest RAM", index,
                      head, gpa, length));
    }
    if (flags & kDescWrite) {
      chain.writable.push_back({gpa, length});
      chain.writable_bytes += length;
    } else {
      if (!chain.writable.empty()) {
        return make_error(
            fmt::format("descriptor {} of chain {} is device-readable after a device-writable one",
                        index, head));
      }
      chain.readable.push_back({gpa, length});
      chain.readable_bytes += length;
    }
    if (!(flags & kDescNext)) return chain;
    index = next;
  }
}

Result<void> Virtqueue::push_used(uint16_t head, uint32_t written) {
  if (head >= layout_.size) {
    return make_error(
        fmt::format("used head {} is past the queue's {} entries", head, layout_.size));
  }
  const uint64_t slot =
      layout_.used + 4 + 8 * uint64_t{static_cast<uint16_t>(used_index_ % layout_.size)};
  const uint32_t id = head;
  std::memcpy(memory_->host_base() + slot, &id, 4);
  std::memcpy(memory_->host_base() + slot + 4, &written, 4);
  // The element must be visible before the index that publishes it.
  std::atomic_thread_fence(std::memory_order_release);
  ++used_index_;
  std::memcpy(memory_->host_base() + layout_.used + 2, &used_index_, 2);
  memory_->note_host_write(slot, 8);
  memory_->note_host_write(layout_.used + 2, 2);
  return {};
}

bool Virtqueue::interrupts_suppressed() const {
  return (load<uint16_t>(layout_.avail) & kAvailNoInterrupt) != 0;
}

Result<std::vector<uint8_t>> gather(const GuestMemory& memory,
                                    const std::vector<VirtqueueBuffer>& buffers, uint64_t total) {
  std::vector<uint8_t> out;
  out.reserve(total);
  for (const auto& b : buffers) {
    auto bytes = memory.span(b.gpa, b.length);
    if (!bytes) return bytes.error();
    out.insert(out.end(), bytes->begin(), bytes->end());
  }
  return out;
}

Result<void> scatter(const GuestMemory& memory, const std::vector<VirtqueueBuffer>& buffers,
                     std::span<const uint8_t> bytes) {
  for (const auto& b : buffers) {
    if (bytes.empty()) break;
    const size_t n = std::min<size_t>(b.length, bytes.size());
    if (auto r = memory.write(b.gpa, bytes.first(n)); !r) return r;
    bytes = bytes.subspan(n);
  }
  if (!bytes.empty()) return make_error("the buffers are too small for the data");
  return {};
}

}  // namespace ftvm
