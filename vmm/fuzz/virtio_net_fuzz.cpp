#include "virtio_net_fuzz.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "virtio_test_driver.h"
#include "vmm/devices/virtio_net.h"

namespace ftvm {
namespace {

constexpr uint64_t kRamBytes = 64 << 10;
// Queue q's descriptor table, driver ring and device ring.
constexpr uint64_t kRings[2][3] = {{0x0000, 0x1000, 0x1800}, {0x2000, 0x3000, 0x3800}};
constexpr size_t kFrameHeader = 2;

void require(bool condition, const char* property) {
  if (condition) return;
  std::fprintf(stderr, "fuzz property violated: %s\n", property);
  std::abort();
}

class CheckingSink final : public NetSink {
 public:
  void transmit(std::vector<uint8_t> frame) override {
    require(!frame.empty() && frame.size() <= kMaxEthernetFrameBytes, "frames are whole");
  }
};

class NoIrq final : public IrqSink {
 public:
  void set_irq_level(uint8_t, bool) override {}
};

void check_failure(const VirtioMmio& t) {
  if (t.broken()) require(t.failure() && !t.failure()->empty(), "a broken device says why");
}

}  // namespace

int fuzz_virtio_net(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint16_t queue_size = static_cast<uint16_t>(1u << (data[0] % 6));
  const size_t frames = data[1] % 8;
  size_t at = 2;
  std::vector<size_t> lengths;
  for (size_t i = 0; i < frames && at + kFrameHeader <= size; ++i, at += kFrameHeader) {
    lengths.push_back((data[at] | (size_t{data[at + 1]} << 8)) % 2048);
  }
  static GuestMemory memory = GuestMemory::allocate(kRamBytes).value();
  std::memset(memory.host_base(), 0, kRamBytes);
  if (at < size) std::memcpy(memory.host_base(), data + at, std::min<size_t>(size - at, kRamBytes));

  CheckingSink sink;
  NoIrq irq;
  VirtioNet net(memory, sink, {0x02, 0, 0, 0, 0, 1});
  VirtioMmio transport(net, memory, IrqLine(irq, 6));
  testing::start_device(
      transport, VirtioNet::kFeatureMac,
      {{kRings[0][0], kRings[0][1], kRings[0][2]}, {kRings[1][0], kRings[1][1], kRings[1][2]}},
      queue_size);
  check_failure(transport);
  testing::write_register(transport, VirtioMmio::kQueueNotify, VirtioNet::kTransmitQueue);
  testing::write_register(transport, VirtioMmio::kQueueNotify, VirtioNet::kReceiveQueue);
  check_failure(transport);
  for (size_t length : lengths) {
    auto r = net.receive({std::vector<uint8_t>(length, 0x5a)});
    if (!r) {
      require(!r.error().message.empty(), "errors say something");
      transport.fail(r.error().message);
    }
  }
  testing::write_register(transport, VirtioMmio::kQueueNotify, VirtioNet::kTransmitQueue);
  testing::write_register(transport, VirtioMmio::kQueueNotify, VirtioNet::kReceiveQueue);
  check_failure(transport);
  const auto stats = net.stats();
  require(stats.received + stats.dropped <= lengths.size() + VirtioNet::kMaxWaitingFrames,
          "every frame is counted once");
  return 0;
}

std::vector<std::vector<uint8_t>> virtio_net_fuzz_seeds() {
  std::vector<uint8_t> ram(0x5000, 0);
  auto put16 = [&](size_t at, uint16_t v) { std::memcpy(ram.data() + at, &v, 2); };
  auto put_desc = [&](int q, uint16_t index, uint64_t gpa, uint32_t length, uint16_t flags) {
    const size_t at = kRings[q][0] + 16 * size_t{index};
    std::memcpy(ram.data() + at, &gpa, 8);
    std::memcpy(ram.data() + at + 8, &length, 4);
    put16(at + 12, flags);
  };
  // Two receive buffers of 1526 bytes, one transmit chain of a 60-byte frame.
  put_desc(0, 0, 0x4000, 1526, Virtqueue::kDescWrite);
  put_desc(0, 1, 0x8000, 1526, Virtqueue::kDescWrite);
  put16(kRings[0][1] + 4, 0);
  put16(kRings[0][1] + 6, 1);
  put16(kRings[0][1] + 2, 2);
  put_desc(1, 0, 0x4800, 12 + 60, 0);
  put16(kRings[1][1] + 4, 0);
  put16(kRings[1][1] + 2, 1);
  auto seed = [&ram](std::vector<uint8_t> frames) {
    std::vector<uint8_t> bytes = {3, static_cast<uint8_t>(frames.size() / 2)};  // queues of 8
    bytes.insert(bytes.end(), frames.begin(), frames.end());
    bytes.insert(bytes.end(), ram.begin(), ram.end());
    return bytes;
  };
  const auto good = seed({60, 0, 0xea, 0x05, 0x40, 0x00});  // 60, 1514 and 64 bytes
  put_desc(0, 1, 0x8000, 100, Virtqueue::kDescWrite);       // too small for a frame
  const auto small = seed({0xea, 0x05, 0xea, 0x05});
  put_desc(1, 0, 0x4800, 12 + 60, Virtqueue::kDescWrite);  // writable on the transmit queue
  const auto writable = seed({});
  return {good, small, writable};
}

}  // namespace ftvm
