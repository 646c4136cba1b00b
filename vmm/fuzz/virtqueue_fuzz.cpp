#include "virtqueue_fuzz.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "vmm/devices/virtqueue.h"

namespace ftvm {
namespace {

constexpr uint64_t kRamBytes = 64 << 10;
constexpr uint64_t kAvail = 0x800;
constexpr uint64_t kUsed = 0xc00;

void require(bool condition, const char* property) {
  if (condition) return;
  std::fprintf(stderr, "fuzz property violated: %s\n", property);
  std::abort();
}

void check_buffers(const GuestMemory& memory, const std::vector<VirtqueueBuffer>& buffers) {
  for (const auto& b : buffers) require(memory.contains(b.gpa, b.length), "buffers lie in RAM");
}

}  // namespace

int fuzz_virtqueue(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static GuestMemory memory = GuestMemory::allocate(kRamBytes).value();
  std::memset(memory.host_base(), 0, kRamBytes);
  std::memcpy(memory.host_base(), data + 1, std::min<size_t>(size - 1, kRamBytes));
  const uint16_t queue_size = static_cast<uint16_t>(1u << (data[0] % 6));
  auto queue = Virtqueue::create(memory, {queue_size, 0, kAvail, kUsed});
  require(queue.ok(), "a layout inside RAM is accepted");
  for (int round = 0; round < 3 * queue_size; ++round) {
    auto chain = queue->pop();
    if (!chain) {
      require(!chain.error().message.empty(), "errors say something");
      return 0;
    }
    if (!*chain) return 0;
    const DescriptorChain& c = **chain;
    require(c.readable.size() + c.writable.size() <= queue_size, "chains fit the queue");
    check_buffers(memory, c.readable);
    check_buffers(memory, c.writable);
    require(queue->push_used(c.head, static_cast<uint32_t>(c.writable_bytes)).ok(),
            "a popped head goes back");
  }
  return 0;
}

std::vector<std::vector<uint8_t>> virtqueue_fuzz_seeds() {
  std::vector<uint8_t> ram(0xd00, 0);
  auto put16 = [&](size_t at, uint16_t v) { std::memcpy(ram.data() + at, &v, 2); };
  auto put_desc = [&](uint16_t index, uint64_t gpa, uint32_t length, uint16_t flags,
                      uint16_t next) {
    std::memcpy(ram.data() + 16 * index, &gpa, 8);
    std::memcpy(ram.data() + 16 * index + 8, &length, 4);
    put16(16 * index + 12, flags);
    put16(16 * index + 14, next);
  };
  // Queue of 8: chain 0 -> 1 (readable 16, writable 512), chain 2 alone.
  put_desc(0, 0x1000, 16, Virtqueue::kDescNext, 1);
  put_desc(1, 0x2000, 512, Virtqueue::kDescWrite, 0);
  put_desc(2, 0x3000, 64, 0, 0);
  put16(kAvail + 4, 0);
  put16(kAvail + 6, 2);
  put16(kAvail + 2, 2);
  auto seed = [&ram] {
    std::vector<uint8_t> bytes = {3};  // 1 << 3: a queue of 8
    bytes.insert(bytes.end(), ram.begin(), ram.end());
    return bytes;
  };
  const auto good = seed();
  put_desc(1, 0x2000, 512, Virtqueue::kDescNext | Virtqueue::kDescWrite, 0);  // 1 -> 0 -> 1
  const auto loop = seed();
  return {good, loop};
}

}  // namespace ftvm
