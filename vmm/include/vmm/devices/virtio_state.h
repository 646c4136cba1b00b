// What a virtio device and its transport hold outside guest RAM (the rings themselves are in
// RAM and travel with it): the registers the driver programmed, where each ring stands, the
// requests the disk is serving and the frames waiting for a receive buffer. A state transfer
// carries it so that a joined backup's devices go on exactly where the sender's were. It comes
// from the network (docs/protocol.md, "State transfer"): the loads check every field again.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vmm/devices/block_request.h"
#include "vmm/devices/virtqueue.h"

namespace ftvm {

struct VirtioQueueState {
  uint16_t size = 0;
  bool ready = false;
  VirtqueueLayout layout;
  // Where the device stands in the rings (meaningful while ready).
  uint16_t next_avail = 0;
  uint16_t used_index = 0;
  bool operator==(const VirtioQueueState&) const = default;
};

struct VirtioTransportState {
  uint32_t status = 0;
  uint32_t device_features_sel = 0;
  uint32_t driver_features_sel = 0;
  uint64_t driver_features = 0;
  uint32_t queue_sel = 0;
  uint32_t interrupt_status = 0;
  uint32_t config_generation = 0;
  std::vector<VirtioQueueState> queues;
  std::optional<std::string> failure;  // why the device needs a reset
  bool activated = false;              // the device was handed its queues (DRIVER_OK)
  bool operator==(const VirtioTransportState&) const = default;
};

// A virtio-blk request the device handed its backend and has not completed: where its answer
// goes in the guest.
struct VirtioBlkRequestState {
  uint64_t id = 0;
  uint16_t head = 0;
  std::vector<VirtqueueBuffer> data;  // the guest's buffers for read data
  uint64_t status_gpa = 0;
  uint32_t read_bytes = 0;
  bool operator==(const VirtioBlkRequestState&) const = default;
};

struct VirtioBlkState {
  VirtioTransportState transport;
  uint64_t next_id = 0;
  std::vector<VirtioBlkRequestState> in_flight;  // ascending ids
  // The same requests as the disk got them (write data included), for a backup that takes
  // over before their completions are logged: it issues them again (replay/logged_disk.h).
  std::vector<BlockRequest> unfinished;
  bool operator==(const VirtioBlkState&) const = default;
};

struct VirtioNetState {
  VirtioTransportState transport;
  std::vector<std::vector<uint8_t>> waiting;  // received frames no buffer took yet, oldest first
  bool operator==(const VirtioNetState&) const = default;
};

struct VirtioStates {
  std::optional<VirtioBlkState> disk;
  std::optional<VirtioNetState> net;
  bool operator==(const VirtioStates&) const = default;
};

// Bounds the decoder (logging-channel's message codec) enforces beyond the devices' own: a
// failure text, and the disk's writes in flight in all (a transfer that finds more in flight
// fails and is tried again later).
inline constexpr size_t kMaxVirtioFailureBytes = 1024;
inline constexpr uint64_t kMaxUnfinishedWriteBytes = 64ull << 20;

}  // namespace ftvm
