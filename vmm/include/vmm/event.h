// External events: the nondeterministic inputs that reach the guest through device models.
// Backends produce them on their own threads; the vCPU thread applies them, only between two
// exits, so that where each one lands is a position the recorder can log.
#pragma once

#include <cstdint>
#include <variant>
#include <vector>

#include "vmm/devices/block_request.h"
#include "vmm/devices/net_frame.h"

namespace ftvm {

// One expiry of PIT channel 0, for the programming identified by `generation`.
struct PitExpiry {
  uint64_t generation;
};

// Bytes typed on (or piped into) the serial console.
struct ConsoleInput {
  std::vector<uint8_t> bytes;
};

// Permission to deliver an interrupt that is pending while the guest cannot take it. A recording
// VM has no interrupt-window exit (not reproducible on every host), so the recorder asks for
// one of these: applied at the next exit or an asynchronous landmark, it marks a logged point
// where the runner may deliver. It changes no device state.
struct InterruptWindow {};

// A block device's request was served (BlockCompletion, vmm/devices/block_request.h): applied,
// it puts read data and status into the guest's buffers and raises the device's interrupt.
// A frame arrived from the host's network (NetFrame, vmm/devices/net_frame.h): applied, it
// fills the network card's next receive buffer.
using Event = std::variant<PitExpiry, ConsoleInput, InterruptWindow, BlockCompletion, NetFrame>;

}  // namespace ftvm
