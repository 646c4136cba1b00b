#include "kernel/net.h"

#include "kernel/cpu.h"
#include "kernel/net_packet.h"
#include "kernel/pit.h"
#include "kernel/resp.h"
#include "kernel/sched.h"
#include "kernel/store_log.h"
#include "kernel/tcp.h"
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
// The TCP connections (about 200 KiB) and the service's table (about 330 KiB), in .bss.
constinit tcp::Stack g_tcp;
constinit resp::Store g_store;

// Counters change under IrqGuard so that Stats() sees no half-counted frame.
void CountReceived(bool used) {
  IrqGuard guard;
  ++g_counters.received;
  if (!used) ++g_counters.dropped;
}

void CountSent() {
  IrqGuard guard;
  ++g_counters.sent;
}

bool SendFrame(const uint8_t* frame, size_t size) {
  if (!virtio_net::Send(frame, size)) return false;
  CountSent();
  return true;
}

bool TransmitSegment(void*, const uint8_t* frame, size_t size) {
  return SendFrame(frame, size);
}

// The service on every TCP connection: Redis requests in, replies out (resp.h). A change to
// the table is on the disk (store_log.h) before its reply is written: the net thread blocks
// for the write and flush, so no reply, nor anything else, leaves meanwhile.
struct RespService {
  tcp::AppResult operator()(const uint8_t* input, size_t size, bool input_full,
                            tcp::Connection& output) {
    store_log::DiskLog log;
    const resp::ServeResult result = resp::Serve(input, size, input_full, g_store, log, output);
    return {result.consumed, result.close, result.blocked};
  }
};

// A TCP segment goes to its connection, whose new input the service answers at once (so the
// reply carries the ACK).
bool OnTcp(const EthernetFrame& frame, const Ipv4Packet& packet) {
  const uint64_t now = pit::Ticks();
  const tcp::Stack::Result result = g_tcp.OnSegment(frame, packet, now);
  if (result.connection != nullptr) {
    RespService service;
    g_tcp.Serve(*result.connection, service, now);
  }
  return result.used;
}

void OnFrame(const uint8_t* frame, size_t size) {
  EthernetFrame ethernet;
  Ipv4Packet packet;
  if (ParseTcpDatagram(frame, size, g_self, &ethernet, &packet) == Verdict::kOk) {
    CountReceived(OnTcp(ethernet, packet));
    return;
  }
  const Outcome outcome = BuildReply(frame, size, g_self, g_reply, sizeof g_reply);
  CountReceived(outcome.verdict == Verdict::kReply && SendFrame(g_reply, outcome.size));
}

void PublishConnections() {
  const uint64_t open = g_tcp.OpenConnections();
  IrqGuard guard;
  g_counters.tcp_connections = open;
}

// The log first, so that no client sees the table before it is whole again (frames wait in
// the card's receive queue meanwhile). Then frames, then the TCP timers due by now; then sleep
// until a frame comes or the next timer is due (no timer running: until a frame comes).
void Main() {
  store_log::Replay(g_store);
  for (;;) {
    virtio_net::ReceiveAll(&OnFrame);
    g_tcp.OnTick(pit::Ticks());
    PublishConnections();
    virtio_net::WaitForFrames(g_tcp.NextDeadline());
  }
}

}  // namespace

void Start() {
  if (!virtio_net::Init()) return;
  CopyBytes(g_self.mac, virtio_net::Mac(), kMacBytes);
  CopyBytes(g_self.ip, abi::kGuestIpv4, kIpv4AddressBytes);
  g_tcp.Init(g_self, &TransmitSegment, nullptr);
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
