#include "kernel/net.h"

#include "kernel/cpu.h"
#include "kernel/net_packet.h"
#include "kernel/sched.h"
#include "kernel/virtio_net.h"
#include "testsvc/abi.h"

namespace testsvc::kernel::net {
namespace {

static_assert(kMacBytes == virtio_net::kMacBytes);
static_assert(kEthernetMaxFrameBytes == virtio_net::kMaxFrameBytes);

constinit Interface g_self = {};
constinit Counters g_counters = {};
// Replies are built here, then copied into a transmit buffer by Send.
constinit uint8_t g_reply[kEthernetMaxFrameBytes] = {};

// One frame's worth of counting, atomic for Stats() (a preemption in between would show a
// frame as received but neither answered nor dropped).
void Count(bool answered) {
  IrqGuard guard;
  ++g_counters.received;
  if (answered) {
    ++g_counters.sent;
  } else {
    ++g_counters.dropped;
  }
}

void OnFrame(const uint8_t* frame, size_t size) {
  const Outcome outcome = BuildReply(frame, size, g_self, g_reply, sizeof g_reply);
  Count(outcome.verdict == Verdict::kReply && virtio_net::Send(g_reply, outcome.size));
}

void Main() {
  for (;;) {
    virtio_net::ReceiveAll(&OnFrame);
    virtio_net::WaitForFrames();
  }
}

}  // namespace

void Start() {
  if (!virtio_net::Init()) return;
  CopyBytes(g_self.mac, virtio_net::Mac(), kMacBytes);
  CopyBytes(g_self.ip, abi::kGuestIpv4, kIpv4AddressBytes);
  sched::Spawn("net", &Main);
}

bool Present() {
  return virtio_net::Present();
}

const uint8_t* Mac() {
  return virtio_net::Mac();
}

Counters Stats() {
  IrqGuard guard;
  return g_counters;
}

}  // namespace testsvc::kernel::net
