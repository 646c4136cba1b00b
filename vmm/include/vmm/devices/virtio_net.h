// virtio-net (virtio 1.2, section 5.1) on the virtio-mmio transport: a MAC address in config
// space, one receive and one transmit queue, no offloads, no mergeable buffers, no control
// queue. Every buffer starts with the 12-byte virtio_net_hdr.
//
// Transmit: at the guest's notification (an exit) each frame is copied out of guest RAM and
// handed to the sink, and its chain is returned at once, identically on every side. Receive: a
// frame from the host arrives as an event; applied between exits, it fills the next receive
// buffer the driver offered and raises the interrupt. Frames that arrive while the driver has
// no buffer wait in the device, in order, up to a bound (then the newest is dropped, as a full
// NIC ring drops): whether and where each lands depends only on the logged events and the
// guest, so a replay lands them the same way.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "vmm/devices/net_frame.h"
#include "vmm/devices/virtio_mmio.h"

namespace ftvm {

class VirtioNet final : public VirtioDevice {
 public:
  static constexpr uint32_t kDeviceId = 1;
  static constexpr uint16_t kQueueSize = 256;
  static constexpr uint16_t kReceiveQueue = 0;
  static constexpr uint16_t kTransmitQueue = 1;
  static constexpr uint64_t kFeatureMac = uint64_t{1} << 5;
  static constexpr size_t kHeaderBytes = 12;
  // Frames kept for a driver that offers no receive buffer.
  static constexpr size_t kMaxWaitingFrames = 64;

  using Mac = std::array<uint8_t, 6>;

  struct Stats {
    uint64_t received = 0;     // frames put into the guest's buffers
    uint64_t transmitted = 0;  // frames handed to the sink
    uint64_t dropped = 0;      // received frames that never reached the guest
  };

  VirtioNet(const GuestMemory& memory, NetSink& sink, Mac mac);

  uint32_t device_id() const override { return kDeviceId; }
  uint64_t features() const override { return kFeatureMac; }
  uint16_t queue_count() const override { return 2; }
  uint16_t queue_max_size() const override { return kQueueSize; }
  void read_config(uint64_t offset, std::span<uint8_t> data) override;
  void activate(VirtioMmio& transport, uint64_t features) override;
  Result<void> notify(uint16_t queue) override;
  void reset() override;

  // A frame from the host (between exits). Frames larger than an Ethernet frame, and frames for
  // a device the driver has not started, are dropped (counted). An error breaks the device.
  Result<void> receive(const NetFrame& frame);

  const Mac& mac() const { return mac_; }
  Stats stats() const { return stats_; }

  // The received frames waiting for a buffer, and loading another machine's (each a frame this
  // device would have kept, no more than it keeps).
  std::vector<std::vector<uint8_t>> waiting_frames() const;
  Result<void> load_waiting_frames(const std::vector<std::vector<uint8_t>>& frames);

 private:
  Result<void> transmit_all();
  Result<void> deliver_waiting();
  Result<void> broken(const std::string& reason);

  const GuestMemory& memory_;
  NetSink& sink_;
  Mac mac_;
  VirtioMmio* transport_ = nullptr;
  std::deque<std::vector<uint8_t>> waiting_;
  Stats stats_;
};

// "02:46:54:56:4d:01" -> its bytes; an error names what is wrong.
Result<VirtioNet::Mac> parse_mac(std::string_view text);
std::string format_mac(const VirtioNet::Mac& mac);

}  // namespace ftvm
