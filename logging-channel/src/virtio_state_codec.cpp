#include "virtio_state_codec.h"

#include <fmt/format.h>

#include "vmm/devices/net_frame.h"
#include "vmm/devices/virtio_blk.h"
#include "vmm/devices/virtio_net.h"

namespace ftvm::channel {
namespace {

constexpr uint8_t kHasDisk = 1;
constexpr uint8_t kHasNet = 2;
constexpr uint8_t kActivated = 1;
constexpr uint8_t kHasFailure = 2;
constexpr uint8_t kLastBlockOp = static_cast<uint8_t>(BlockOp::kWriteZeroes);

void put_u16(std::vector<uint8_t>& out, uint16_t value) {
  put_le(out, value);
}

void encode_transport(const VirtioTransportState& t, std::vector<uint8_t>& out) {
  put_le(out, t.status);
  put_le(out, t.device_features_sel);
  put_le(out, t.driver_features_sel);
  put_le(out, t.driver_features);
  put_le(out, t.queue_sel);
  put_le(out, t.interrupt_status);
  put_le(out, t.config_generation);
  put_le(out, static_cast<uint8_t>((t.activated ? kActivated : 0) | (t.failure ? kHasFailure : 0)));
  if (t.failure) {
    put_byte_string(
        out, std::span(reinterpret_cast<const uint8_t*>(t.failure->data()), t.failure->size()));
  }
  put_le(out, static_cast<uint8_t>(t.queues.size()));
  for (const VirtioQueueState& q : t.queues) {
    put_u16(out, q.size);
    put_le(out, static_cast<uint8_t>(q.ready ? 1 : 0));
    put_u16(out, q.layout.size);
    put_le(out, q.layout.desc);
    put_le(out, q.layout.avail);
    put_le(out, q.layout.used);
    put_u16(out, q.next_avail);
    put_u16(out, q.used_index);
  }
}

VirtioTransportState decode_transport(WireReader& in) {
  VirtioTransportState t;
  t.status = in.u32("virtio status");
  t.device_features_sel = in.u32("virtio device_features_sel");
  t.driver_features_sel = in.u32("virtio driver_features_sel");
  t.driver_features = in.u64("virtio driver_features");
  t.queue_sel = in.u32("virtio queue_sel");
  t.interrupt_status = in.u32("virtio interrupt_status");
  t.config_generation = in.u32("virtio config_generation");
  const uint8_t flags = in.u8("virtio flags");
  if ((flags & ~(kActivated | kHasFailure)) != 0) {
    in.reject("virtio flags", fmt::format("has unknown bits ({:#x})", flags));
  }
  t.activated = (flags & kActivated) != 0;
  if (flags & kHasFailure) t.failure = in.text("virtio failure", kMaxVirtioFailureBytes);
  const uint8_t queues = in.u8("virtio queue count");
  if (queues > kMaxVirtioQueues) {
    in.reject("virtio queue count", fmt::format("is {}, over {}", queues, kMaxVirtioQueues));
    return t;
  }
  for (uint8_t i = 0; i < queues && in.ok(); ++i) {
    VirtioQueueState q;
    q.size = in.u16("virtqueue size");
    const uint8_t ready = in.u8("virtqueue ready");
    if (ready > 1) in.reject("virtqueue ready", fmt::format("is {}, not 0 or 1", ready));
    q.ready = ready == 1;
    q.layout.size = in.u16("virtqueue layout size");
    q.layout.desc = in.u64("virtqueue desc");
    q.layout.avail = in.u64("virtqueue avail");
    q.layout.used = in.u64("virtqueue used");
    q.next_avail = in.u16("virtqueue next_avail");
    q.used_index = in.u16("virtqueue used_index");
    t.queues.push_back(q);
  }
  return t;
}

void encode_disk(const VirtioBlkState& disk, std::vector<uint8_t>& out) {
  encode_transport(disk.transport, out);
  put_le(out, disk.next_id);
  put_le(out, static_cast<uint32_t>(disk.in_flight.size()));
  for (const VirtioBlkRequestState& r : disk.in_flight) {
    put_le(out, r.id);
    put_u16(out, r.head);
    put_le(out, r.status_gpa);
    put_le(out, r.read_bytes);
    put_le(out, static_cast<uint32_t>(r.data.size()));
    for (const VirtqueueBuffer& b : r.data) {
      put_le(out, b.gpa);
      put_le(out, b.length);
    }
  }
  put_le(out, static_cast<uint32_t>(disk.unfinished.size()));
  for (const BlockRequest& r : disk.unfinished) {
    put_le(out, r.id);
    put_le(out, static_cast<uint8_t>(r.op));
    put_le(out, r.offset);
    put_le(out, r.length);
    put_byte_string(out, r.data);
  }
}

// A count of at most `max`; beyond it the reader is failed and 0 returned.
uint32_t bounded_count(WireReader& in, const char* field, uint32_t max) {
  const uint32_t count = in.u32(field);
  if (count <= max) return count;
  in.reject(field, fmt::format("is {}, over {}", count, max));
  return 0;
}

VirtioBlkRequestState decode_disk_request(WireReader& in) {
  VirtioBlkRequestState r;
  r.id = in.u64("virtio-blk request id");
  r.head = in.u16("virtio-blk request head");
  r.status_gpa = in.u64("virtio-blk status_gpa");
  r.read_bytes = in.u32("virtio-blk read_bytes");
  const uint32_t buffers = bounded_count(in, "virtio-blk buffer count", VirtioBlk::kQueueSize);
  for (uint32_t i = 0; i < buffers && in.ok(); ++i) {
    VirtqueueBuffer b;
    b.gpa = in.u64("virtio-blk buffer gpa");
    b.length = in.u32("virtio-blk buffer length");
    r.data.push_back(b);
  }
  return r;
}

BlockRequest decode_unfinished(WireReader& in, uint64_t& write_bytes) {
  BlockRequest r;
  r.id = in.u64("disk request id");
  const uint8_t op = in.u8("disk request op");
  if (op > kLastBlockOp) in.reject("disk request op", fmt::format("is {}", op));
  r.op = static_cast<BlockOp>(op);
  r.offset = in.u64("disk request offset");
  r.length = in.u32("disk request length");
  r.data = in.byte_string("disk request data", VirtioBlk::kMaxRequestBytes);
  write_bytes += r.data.size();
  if (write_bytes > kMaxUnfinishedWriteBytes) {
    in.reject("disk request data",
              fmt::format("brings the writes in flight over {} bytes", kMaxUnfinishedWriteBytes));
  }
  return r;
}

VirtioBlkState decode_disk(WireReader& in) {
  VirtioBlkState disk;
  disk.transport = decode_transport(in);
  disk.next_id = in.u64("virtio-blk next_id");
  const uint32_t in_flight =
      bounded_count(in, "virtio-blk requests in flight", VirtioBlk::kQueueSize);
  for (uint32_t i = 0; i < in_flight && in.ok(); ++i) {
    disk.in_flight.push_back(decode_disk_request(in));
  }
  const uint32_t unfinished = bounded_count(in, "disk requests unfinished", VirtioBlk::kQueueSize);
  uint64_t write_bytes = 0;
  for (uint32_t i = 0; i < unfinished && in.ok(); ++i) {
    disk.unfinished.push_back(decode_unfinished(in, write_bytes));
  }
  return disk;
}

void encode_net(const VirtioNetState& net, std::vector<uint8_t>& out) {
  encode_transport(net.transport, out);
  put_le(out, static_cast<uint32_t>(net.waiting.size()));
  for (const auto& frame : net.waiting) put_byte_string(out, frame);
}

VirtioNetState decode_net(WireReader& in) {
  VirtioNetState net;
  net.transport = decode_transport(in);
  const uint32_t waiting =
      bounded_count(in, "virtio-net waiting frames", VirtioNet::kMaxWaitingFrames);
  for (uint32_t i = 0; i < waiting && in.ok(); ++i) {
    net.waiting.push_back(in.byte_string("virtio-net frame", kMaxEthernetFrameBytes));
  }
  return net;
}

// The state-done message's bounds: counts, and the write data's bytes.
Result<void> over(const char* field, size_t value, size_t max) {
  return check_field("state-done", field, value, max, "");
}

Result<void> check_transport(const VirtioTransportState& t) {
  if (auto r = over("virtio queue count", t.queues.size(), kMaxVirtioQueues); !r) return r;
  return over("virtio failure", t.failure ? t.failure->size() : 0, kMaxVirtioFailureBytes);
}

Result<void> check_disk(const VirtioBlkState& disk) {
  if (auto r = check_transport(disk.transport); !r) return r;
  if (auto r = over("virtio-blk requests in flight", disk.in_flight.size(), VirtioBlk::kQueueSize);
      !r) {
    return r;
  }
  for (const auto& request : disk.in_flight) {
    if (auto r = over("virtio-blk buffer count", request.data.size(), VirtioBlk::kQueueSize); !r) {
      return r;
    }
  }
  if (auto r = over("disk requests unfinished", disk.unfinished.size(), VirtioBlk::kQueueSize);
      !r) {
    return r;
  }
  uint64_t write_bytes = 0;
  for (const auto& request : disk.unfinished) write_bytes += request.data.size();
  return over("disk writes in flight (bytes)", write_bytes, kMaxUnfinishedWriteBytes);
}

Result<void> check_net(const VirtioNetState& net) {
  if (auto r = check_transport(net.transport); !r) return r;
  if (auto r = over("virtio-net waiting frames", net.waiting.size(), VirtioNet::kMaxWaitingFrames);
      !r) {
    return r;
  }
  for (const auto& frame : net.waiting) {
    if (auto r = over("virtio-net frame", frame.size(), kMaxEthernetFrameBytes); !r) return r;
  }
  return {};
}

}  // namespace

void encode_virtio_states(const VirtioStates& states, std::vector<uint8_t>& out) {
  put_le(out, static_cast<uint8_t>((states.disk ? kHasDisk : 0) | (states.net ? kHasNet : 0)));
  if (states.disk) encode_disk(*states.disk, out);
  if (states.net) encode_net(*states.net, out);
}

VirtioStates decode_virtio_states(WireReader& in) {
  VirtioStates states;
  const uint8_t devices = in.u8("virtio devices");
  if ((devices & ~(kHasDisk | kHasNet)) != 0) {
    in.reject("virtio devices", fmt::format("has unknown bits ({:#x})", devices));
    return states;
  }
  if (devices & kHasDisk) states.disk = decode_disk(in);
  if (devices & kHasNet) states.net = decode_net(in);
  return states;
}

Result<void> check_virtio_bounds(const VirtioStates& states) {
  if (states.disk) {
    if (auto r = check_disk(*states.disk); !r) return r;
  }
  if (states.net) return check_net(*states.net);
  return {};
}

}  // namespace ftvm::channel
