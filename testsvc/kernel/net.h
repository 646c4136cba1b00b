// The network: a thread that answers ARP and ICMP echo (ping) on abi::kGuestIpv4 through the
// virtio-net card (virtio_net.h), when the VM has one. The protocols are in net_packet.h.
//
//   net   > net mac=<MAC> ip=<IPv4> rx=<n> tx=<n> dropped=<n>   (or "> net none")
//
// rx counts the frames received, tx the replies sent, dropped the frames that got no reply
// (not for us, not answered, malformed, or no transmit buffer free). A frame is counted once
// handled, in both counters at once, so rx = tx + dropped in every snapshot.
#pragma once

#include <stdint.h>

namespace testsvc::kernel::net {

// Starts the thread if the VM has a network card.
void Start();
bool Present();
// The card's MAC address (kMacBytes), zeros without a card.
const uint8_t* Mac();

struct Counters {
  uint64_t received = 0;
  uint64_t sent = 0;
  uint64_t dropped = 0;
};
// A consistent snapshot (taken between two frames).
Counters Stats();

}  // namespace testsvc::kernel::net
