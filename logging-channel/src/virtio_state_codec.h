// The virtio devices' state in a state-done message (docs/protocol.md, "State transfer"):
// its wire form and bounds. Private to ftvm_channel; part of the fuzzed frame codec.
#pragma once

#include <cstdint>
#include <vector>

#include "vmm/devices/virtio_state.h"
#include "vmm/result.h"
#include "wire.h"

namespace ftvm::channel {

// More than any device here has: virtio-blk 1 queue, virtio-net 2.
inline constexpr size_t kMaxVirtioQueues = 8;

void encode_virtio_states(const VirtioStates& states, std::vector<uint8_t>& out);
VirtioStates decode_virtio_states(WireReader& in);
// Whether `states` keeps within what decode_virtio_states() accepts; the error names the field.
Result<void> check_virtio_bounds(const VirtioStates& states);

}  // namespace ftvm::channel
