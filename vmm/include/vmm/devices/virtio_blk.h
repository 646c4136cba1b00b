// virtio-blk (virtio 1.2, section 5.2) on the virtio-mmio transport: one request queue,
// READ, WRITE, FLUSH, GET_ID, DISCARD and WRITE_ZEROES (one segment each). At the guest's
// notification (an exit) each request is checked and its write data copied out of guest RAM into
// the request (a bounce buffer); the backend gets it then. Its completion is applied later, between
// two exits, as an event the recorder logs: read data is copied into the guest's buffers, the
// status byte written, the chain returned and the interrupt raised, all at that one point.
//
// A request the device can answer at once (GET_ID, a bad sector range, an unknown type)
// completes at the notification itself, deterministically on both sides. A chain too
// malformed to carry a status byte breaks the device (DEVICE_NEEDS_RESET).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "vmm/devices/block_request.h"
#include "vmm/devices/virtio_mmio.h"
#include "vmm/devices/virtio_state.h"
#include "vmm/devices/virtqueue.h"

namespace ftvm {

class VirtioBlk final : public VirtioDevice {
 public:
  static constexpr uint32_t kDeviceId = 2;
  static constexpr uint64_t kSectorBytes = 512;
  static constexpr uint16_t kQueueSize = 128;
  static constexpr uint64_t kFeatureSegMax = uint64_t{1} << 2;
  static constexpr uint64_t kFeatureReadOnly = uint64_t{1} << 5;
  static constexpr uint64_t kFeatureFlush = uint64_t{1} << 9;
  static constexpr uint64_t kFeatureDiscard = uint64_t{1} << 13;
  static constexpr uint64_t kFeatureWriteZeroes = uint64_t{1} << 14;
  // Request types.
  static constexpr uint32_t kTypeIn = 0;
  static constexpr uint32_t kTypeOut = 1;
  static constexpr uint32_t kTypeFlush = 4;
  static constexpr uint32_t kTypeGetId = 8;
  static constexpr uint32_t kTypeDiscard = 11;
  static constexpr uint32_t kTypeWriteZeroes = 13;
  static constexpr size_t kIdBytes = 20;
  // The largest request: what one request of the NBD disk server may carry.
  static constexpr uint32_t kMaxRequestBytes = uint32_t{32} << 20;
  // One segment per discard or write-zeroes request, of at most this many sectors (32 MiB).
  static constexpr uint32_t kMaxZeroSectors = kMaxRequestBytes / 512;
  static constexpr uint32_t kSegmentFlagUnmap = 1;

  struct Options {
    uint64_t capacity_bytes = 0;  // a multiple of 512
    bool read_only = false;
    std::string serial;  // GET_ID's answer, at most 20 bytes
  };

  VirtioBlk(const GuestMemory& memory, BlockBackend& backend, Options options);

  uint32_t device_id() const override { return kDeviceId; }
  uint64_t features() const override;
  uint16_t queue_count() const override { return 1; }
  uint16_t queue_max_size() const override { return kQueueSize; }
  void read_config(uint64_t offset, std::span<uint8_t> data) override;
  void activate(VirtioMmio& transport, uint64_t features) override;
  Result<void> notify(uint16_t queue) override;
  void reset() override;

  // Applies the backend's answer to request `completion.id` (between exits). An id that is not
  // in flight, or read data of the wrong size, is an error: the log or the backend is broken.
  Result<void> complete(const BlockCompletion& completion);

  size_t in_flight() const { return in_flight_.size(); }

  // The requests in flight and the next id (virtio_state.h; the transport's state and the
  // requests as the disk got them are the callers'), and loading another machine's: ids below
  // the next one, heads within the queue, read data within its buffers. The buffers themselves
  // are checked when a completion writes them, as on the machine that took the requests.
  void capture(VirtioBlkState& state) const;
  Result<void> load(const VirtioBlkState& state);

 private:
  // A request the backend is serving: where its answer goes.
  struct InFlight {
    uint16_t head = 0;
    std::vector<VirtqueueBuffer> data;  // the guest's buffers for read data
    uint64_t status_gpa = 0;
    uint32_t read_bytes = 0;
  };

  Result<void> handle(const DescriptorChain& chain);
  // A DISCARD or WRITE_ZEROES request's one segment, as a request for the backend; nullopt with
  // `status` set when the device answers it itself.
  std::optional<BlockRequest> zero_request(uint32_t type, std::span<const uint8_t> segments,
                                           BlockStatus& status) const;
  Result<void> finish(uint16_t head, uint64_t status_gpa, BlockStatus status, uint32_t written);

  const GuestMemory& memory_;
  BlockBackend& backend_;
  Options options_;
  VirtioMmio* transport_ = nullptr;
  uint64_t next_id_ = 0;
  std::map<uint64_t, InFlight> in_flight_;
};

}  // namespace ftvm
