#include "vmm/devices/virtio_blk.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace ftvm {
namespace {

constexpr size_t kHeaderBytes = 16;

template <typename T>
T load_le(const uint8_t* bytes) {
  T value;
  std::memcpy(&value, bytes, sizeof(T));  // x86-64 hosts: little-endian, as virtio 1.x is
  return value;
}

}  // namespace

VirtioBlk::VirtioBlk(const GuestMemory& memory, BlockBackend& backend, Options options)
    : memory_(memory), backend_(backend), options_(std::move(options)) {}

uint64_t VirtioBlk::features() const {
  if (options_.read_only) return kFeatureFlush | kFeatureReadOnly;
  return kFeatureFlush | kFeatureDiscard | kFeatureWriteZeroes;
}

// struct virtio_blk_config: `capacity` in sectors at 0; with DISCARD and WRITE_ZEROES, their
// limits from offset 36 (the fields in between belong to features not offered, and read 0).
void VirtioBlk::read_config(uint64_t offset, std::span<uint8_t> data) {
  uint8_t config[60] = {};
  const uint64_t sectors = options_.capacity_bytes / kSectorBytes;
  std::memcpy(config, &sectors, 8);
  const uint32_t limits[] = {kMaxZeroSectors, 1, 1, kMaxZeroSectors, 1};
  std::memcpy(config + 36, limits, sizeof limits);  // max_discard_sectors .. max_write_zeroes_seg
  config[56] = 1;                                   // write_zeroes_may_unmap
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = offset + i < sizeof config ? config[offset + i] : 0;
  }
}

std::optional<BlockRequest> VirtioBlk::zero_request(uint32_t type,
                                                    std::span<const uint8_t> segments,
                                                    BlockStatus& status) const {
  status = BlockStatus::kIoError;
  if (options_.read_only || segments.size() != 16) return std::nullopt;  // one segment, whole
  const uint64_t sector = load_le<uint64_t>(segments.data());
  const uint32_t count = load_le<uint32_t>(segments.data() + 8);
  const uint32_t flags = load_le<uint32_t>(segments.data() + 12);
  const uint32_t allowed = type == kTypeWriteZeroes ? kSegmentFlagUnmap : 0;
  if ((flags & ~allowed) != 0) {
    status = BlockStatus::kUnsupported;
    return std::nullopt;
  }
  const uint64_t capacity = options_.capacity_bytes / kSectorBytes;
  if (count == 0 || count > kMaxZeroSectors || sector > capacity || count > capacity - sector) {
    return std::nullopt;
  }
  BlockRequest request;
  request.op = type == kTypeDiscard ? BlockOp::kDiscard : BlockOp::kWriteZeroes;
  request.offset = sector * kSectorBytes;
  request.length = count * static_cast<uint32_t>(kSectorBytes);
  return request;
}

void VirtioBlk::activate(VirtioMmio& transport, uint64_t) {
  transport_ = &transport;
}

void VirtioBlk::reset() {
  // Completions for these may still come: complete() recognises them as stale by their ids.
  in_flight_.clear();
  transport_ = nullptr;
}

Result<void> VirtioBlk::notify(uint16_t queue) {
  Virtqueue& q = transport_->queue(queue);
  for (;;) {
    auto chain = q.pop();
    if (!chain) return chain.error();
    if (!*chain) return {};
    if (auto r = handle(**chain); !r) return r;
  }
}

Result<void> VirtioBlk::handle(const DescriptorChain& chain) {
  // The status byte is the last byte the device may write; without one, nothing can be said.
  if (chain.writable.empty() || chain.writable.back().length == 0) {
    return make_error(
        fmt::format("virtio-blk request {} has no status byte (no device-writable buffer at its "
                    "end)",
                    chain.head));
  }
  const VirtqueueBuffer& last = chain.writable.back();
  const uint64_t status_gpa = last.gpa + last.length - 1;
  std::vector<VirtqueueBuffer> data = chain.writable;
  data.back().length -= 1;
  if (data.back().length == 0) data.pop_back();
  const uint64_t writable_data = chain.writable_bytes - 1;

  if (chain.readable_bytes < kHeaderBytes ||
      chain.readable_bytes > kHeaderBytes + kMaxRequestBytes) {
    return finish(chain.head, status_gpa, BlockStatus::kIoError, 1);
  }
  auto readable = gather(memory_, chain.readable, chain.readable_bytes);
  if (!readable) return readable.error();
  const uint32_t type = load_le<uint32_t>(readable->data());
  const uint64_t sector = load_le<uint64_t>(readable->data() + 8);

  if (type == kTypeGetId) {
    std::vector<uint8_t> id(std::min<uint64_t>(kIdBytes, writable_data), 0);
    std::copy_n(options_.serial.begin(), std::min(options_.serial.size(), id.size()), id.begin());
    uint64_t at = 0;
    for (const auto& b : data) {
      const uint64_t n = std::min<uint64_t>(b.length, id.size() - at);
      if (auto r = memory_.write(b.gpa, std::span(id).subspan(at, n)); !r) return r;
      at += n;
      if (at == id.size()) break;
    }
    return finish(chain.head, status_gpa, BlockStatus::kOk, static_cast<uint32_t>(id.size() + 1));
  }

  if (type == kTypeDiscard || type == kTypeWriteZeroes) {
    BlockStatus refusal;
    auto zero = zero_request(type, std::span(*readable).subspan(kHeaderBytes), refusal);
    if (!zero) return finish(chain.head, status_gpa, refusal, 1);
    zero->id = next_id_++;
    in_flight_[zero->id] = InFlight{chain.head, {}, status_gpa, 0};
    backend_.submit(std::move(*zero));
    return {};
  }

  BlockRequest request;
  request.offset = sector * kSectorBytes;
  switch (type) {
    case kTypeIn:
      request.op = BlockOp::kRead;
      request.length =
          static_cast<uint32_t>(std::min<uint64_t>(writable_data, kMaxRequestBytes + 1));
      break;
    case kTypeOut:
      if (options_.read_only) return finish(chain.head, status_gpa, BlockStatus::kIoError, 1);
      request.op = BlockOp::kWrite;
      // The bounce buffer: the guest may change its pages after this exit, the disk must not
      // see that.
      request.data.assign(readable->begin() + kHeaderBytes, readable->end());
      request.length = static_cast<uint32_t>(request.data.size());
      break;
    case kTypeFlush:
      request.op = BlockOp::kFlush;
      request.offset = 0;
      break;
    default:
      return finish(chain.head, status_gpa, BlockStatus::kUnsupported, 1);
  }
  if (request.op != BlockOp::kFlush) {
    const bool overflow = sector > options_.capacity_bytes / kSectorBytes;
    const bool beyond = overflow || request.length > options_.capacity_bytes - request.offset;
    if (request.length % kSectorBytes != 0 || request.length > kMaxRequestBytes || beyond) {
      return finish(chain.head, status_gpa, BlockStatus::kIoError, 1);
    }
  }
  request.id = next_id_++;
  in_flight_[request.id] =
      InFlight{chain.head, request.op == BlockOp::kRead ? data : std::vector<VirtqueueBuffer>{},
               status_gpa, request.op == BlockOp::kRead ? request.length : 0};
  backend_.submit(std::move(request));
  return {};
}

Result<void> VirtioBlk::complete(const BlockCompletion& completion) {
  if (completion.id < next_id_) backend_.completed(completion.id);
  const auto found = in_flight_.find(completion.id);
  if (found == in_flight_.end()) {
    if (completion.id < next_id_) return {};  // submitted before a device reset: stale
    return make_error(
        fmt::format("virtio-blk completion for request {}, which was never submitted (next is {})",
                    completion.id, next_id_));
  }
  const InFlight request = found->second;
  const bool ok = completion.status == BlockStatus::kOk;
  if (ok && completion.data.size() != request.read_bytes) {
    return make_error(
        fmt::format("virtio-blk completion for request {} carries {} bytes of read "
                    "data, the request asked for {}",
                    completion.id, completion.data.size(), request.read_bytes));
  }
  in_flight_.erase(found);
  uint32_t written = 0;
  if (ok) {
    for (const auto& b : request.data) {
      if (auto r = memory_.write(b.gpa, std::span(completion.data).subspan(written, b.length));
          !r) {
        return r;
      }
      written += b.length;
    }
  }
  if (transport_ == nullptr) return {};  // the device was reset meanwhile
  return finish(request.head, request.status_gpa, completion.status, written + 1);
}

void VirtioBlk::capture(VirtioBlkState& state) const {
  state.next_id = next_id_;
  state.in_flight.clear();
  for (const auto& [id, request] : in_flight_) {
    state.in_flight.push_back(
        {id, request.head, request.data, request.status_gpa, request.read_bytes});
  }
}

Result<void> VirtioBlk::load(const VirtioBlkState& state) {
  std::map<uint64_t, InFlight> in_flight;
  for (const VirtioBlkRequestState& request : state.in_flight) {
    uint64_t buffers = 0;
    for (const auto& b : request.data) buffers += b.length;
    if (request.id >= state.next_id || request.head >= kQueueSize || request.read_bytes > buffers ||
        request.data.size() > kQueueSize) {
      return make_error(fmt::format(
          "virtio-blk state: request {} (head {}, {} bytes to read into {} in {} buffers) does "
          "not fit next id {} and a queue of {}",
          request.id, request.head, request.read_bytes, buffers, request.data.size(), state.next_id,
          kQueueSize));
    }
    const bool added = in_flight
                           .emplace(request.id, InFlight{request.head, request.data,
                                                         request.status_gpa, request.read_bytes})
                           .second;
    if (!added) return make_error(fmt::format("virtio-blk state: request {} twice", request.id));
  }
  next_id_ = state.next_id;
  in_flight_ = std::move(in_flight);
  return {};
}

Result<void> VirtioBlk::finish(uint16_t head, uint64_t status_gpa, BlockStatus status,
                               uint32_t written) {
  const uint8_t byte = static_cast<uint8_t>(status);
  if (auto r = memory_.write(status_gpa, std::span(&byte, 1)); !r) return r;
  if (auto r = transport_->queue(0).push_used(head, written); !r) return r;
  transport_->signal_used(0);
  return {};
}

}  // namespace ftvm
