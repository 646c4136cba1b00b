#include "vmm/devices/virtio_net.h"

#include <fmt/format.h>

#include <charconv>
#include <string>
#include <string_view>

namespace ftvm {
namespace {

// virtio_net_hdr for a received frame: no checksum or GSO work asked for, and (virtio 1.x
// without mergeable buffers) num_buffers = 1.
constexpr std::array<uint8_t, VirtioNet::kHeaderBytes> kReceiveHeader = {0, 0, 0, 0, 0, 0,
                                                                         0, 0, 0, 0, 1, 0};

}  // namespace

VirtioNet::VirtioNet(const GuestMemory& memory, NetSink& sink, Mac mac)
    : memory_(memory), sink_(sink), mac_(mac) {}

void VirtioNet::read_config(uint64_t offset, std::span<uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = offset + i < mac_.size() ? mac_[offset + i] : 0;
  }
}

void VirtioNet::activate(VirtioMmio& transport, uint64_t) {
  transport_ = &transport;
}

void VirtioNet::reset() {
  transport_ = nullptr;
  stats_.dropped += waiting_.size();
  waiting_.clear();
}

Result<void> VirtioNet::notify(uint16_t queue) {
  if (queue == kTransmitQueue) return transmit_all();
  if (queue == kReceiveQueue) return deliver_waiting();
  return make_error(fmt::format("virtio-net has no queue {}", queue));
}

Result<void> VirtioNet::broken(const std::string& reason) {
  return make_error("virtio-net: " + reason);
}

Result<void> VirtioNet::transmit_all() {
  Virtqueue& q = transport_->queue(kTransmitQueue);
  bool returned = false;
  for (;;) {
    auto chain = q.pop();
    if (!chain) return chain.error();
    if (!*chain) break;
    const DescriptorChain& c = **chain;
    if (!c.writable.empty()) {
      return broken(fmt::format("transmit chain {} has device-writable buffers", c.head));
    }
    if (c.readable_bytes < kHeaderBytes ||
        c.readable_bytes > kHeaderBytes + kMaxEthernetFrameBytes) {
      return broken(fmt::format(
          "transmit chain {} holds {} bytes; a frame with its header is {} "
          "to {}",
          c.head, c.readable_bytes, kHeaderBytes, kHeaderBytes + kMaxEthernetFrameBytes));
    }
    auto bytes = gather(memory_, c.readable, c.readable_bytes);
    if (!bytes) return bytes.error();
    bytes->erase(bytes->begin(), bytes->begin() + kHeaderBytes);
    if (!bytes->empty()) {
      sink_.transmit(std::move(*bytes));
      ++stats_.transmitted;
    }
    if (auto r = q.push_used(c.head, 0); !r) return r;
    returned = true;
  }
  if (returned) transport_->signal_used(kTransmitQueue);
  return {};
}

Result<void> VirtioNet::receive(const NetFrame& frame) {
  if (frame.bytes.empty() || frame.bytes.size() > kMaxEthernetFrameBytes || transport_ == nullptr ||
      !transport_->active()) {
    ++stats_.dropped;
    return {};
  }
  if (waiting_.size() == kMaxWaitingFrames) {
    ++stats_.dropped;
    return {};
  }
  waiting_.push_back(frame.bytes);
  return deliver_waiting();
}

// Fills offered receive buffers with waiting frames, oldest first.
Result<void> VirtioNet::deliver_waiting() {
  if (transport_ == nullptr || !transport_->active()) return {};
  Virtqueue& q = transport_->queue(kReceiveQueue);
  bool delivered = false;
  while (!waiting_.empty()) {
    auto chain = q.pop();
    if (!chain) return chain.error();
    if (!*chain) break;
    const DescriptorChain& c = **chain;
    const std::vector<uint8_t>& frame = waiting_.front();
    if (!c.readable.empty() || c.writable_bytes < kHeaderBytes + frame.size()) {
      // Without mergeable buffers every receive buffer must hold a whole frame (virtio 1.2,
      // 5.1.6.3.1): a driver that offers less breaks the device rather than lose frames quietly.
      return broken(fmt::format(
          "receive chain {} offers {} device-writable bytes{}; a frame "
          "needs up to {}",
          c.head, c.writable_bytes, c.readable.empty() ? "" : " and device-readable ones",
          kHeaderBytes + kMaxEthernetFrameBytes));
    }
    std::vector<uint8_t> bytes(kReceiveHeader.begin(), kReceiveHeader.end());
    bytes.insert(bytes.end(), frame.begin(), frame.end());
    if (auto r = scatter(memory_, c.writable, bytes); !r) return r;
    if (auto r = q.push_used(c.head, static_cast<uint32_t>(bytes.size())); !r) return r;
    waiting_.pop_front();
    ++stats_.received;
    delivered = true;
  }
  if (delivered) transport_->signal_used(kReceiveQueue);
  return {};
}

std::vector<std::vector<uint8_t>> VirtioNet::waiting_frames() const {
  return {waiting_.begin(), waiting_.end()};
}

Result<void> VirtioNet::load_waiting_frames(const std::vector<std::vector<uint8_t>>& frames) {
  if (frames.size() > kMaxWaitingFrames) {
    return make_error(fmt::format("virtio-net state: {} waiting frames, at most {} wait",
                                  frames.size(), kMaxWaitingFrames));
  }
  for (const auto& frame : frames) {
    if (frame.empty() || frame.size() > kMaxEthernetFrameBytes) {
      return make_error(fmt::format("virtio-net state: a waiting frame of {} bytes", frame.size()));
    }
  }
  waiting_.assign(frames.begin(), frames.end());
  return {};
}

Result<VirtioNet::Mac> parse_mac(std::string_view text) {
  VirtioNet::Mac mac{};
  const auto bad = [&] {
    return make_error(fmt::format("MAC address '{}' is not six hex bytes like 02:46:54:56:4d:01",
                                  text.substr(0, 40)));
  };
  if (text.size() != 17) return bad();
  for (size_t i = 0; i < 6; ++i) {
    const char* at = text.data() + 3 * i;
    if (i < 5 && at[2] != ':') return bad();
    const auto [end, error] = std::from_chars(at, at + 2, mac[i], 16);
    if (error != std::errc() || end != at + 2) return bad();
  }
  if (mac[0] & 1) {
    return make_error(fmt::format("MAC address '{}' is a multicast address", text));
  }
  return mac;
}

std::string format_mac(const VirtioNet::Mac& mac) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", mac[0], mac[1], mac[2], mac[3],
                     mac[4], mac[5]);
}

}  // namespace ftvm
