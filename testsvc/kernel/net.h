// The network: a thread that answers ARP and ICMP echo (ping) on abi::kGuestIpv4 through the
// virtio-net card (virtio_net.h), when the VM has one, and serves Redis requests (resp.h) over
// TCP port 6379 (tcp.h). ARP, IPv4 and ICMP are in net_packet.h.
//
//   net   > net mac=<MAC> ip=<IPv4> rx=<n> tx=<n> dropped=<n> tcp=<n>   (or "> net none")
//
// rx counts the frames received, tx the frames sent (ARP and echo replies, TCP segments,
// retransmissions included), dropped the received frames that were of no use: not for us,
// malformed, not answered, or a reply that found no transmit buffer free. A TCP segment the
// TCP layer took is not dropped, even if it only acknowledged or its data was out of order.
// tcp counts the TCP connections in any state but CLOSED (TIME_WAIT included).
//
// The net thread sleeps until a frame comes, or until the next TCP timer (retransmission,
// TIME_WAIT) is due if one runs.
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
  uint64_t tcp_connections = 0;
};
// A consistent snapshot (taken between two frames).
Counters Stats();

}  // namespace testsvc::kernel::net
