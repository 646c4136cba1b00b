// What a network card exchanges with the host's network: Ethernet frames (no FCS). A received
// frame is an event, applied between exits at a position the log records; its bytes are the
// device's bounce buffer until then. A transmitted frame is copied out of guest RAM at the exit
// that queued it and handed to a sink, which on a protected primary holds it like console
// output, and on a replaying backup drops it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ftvm {

// The largest frame without VLAN tags or jumbo frames: 14 bytes of header and an MTU of 1500.
inline constexpr size_t kMaxEthernetFrameBytes = 1514;

struct NetFrame {
  std::vector<uint8_t> bytes;
};

// Where a device's transmitted frames go. Called on the vCPU thread at the exit that queued
// the frame; must not block.
class NetSink {
 public:
  virtual ~NetSink() = default;
  virtual void transmit(std::vector<uint8_t> frame) = 0;
};

}  // namespace ftvm
