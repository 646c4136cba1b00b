// External events: the nondeterministic inputs that reach the guest through device models.
// Backends produce them on their own threads; the vCPU thread applies them, only between two
// exits, so that where each one lands is a position the recorder can log.
#pragma once

#include <cstdint>
#include <variant>
#include <vector>

namespace ftvm {

// One expiry of PIT channel 0, for the programming identified by `generation`.
struct PitExpiry {
  uint64_t generation;
};

// Bytes typed on (or piped into) the serial console.
struct ConsoleInput {
  std::vector<uint8_t> bytes;
};

using Event = std::variant<PitExpiry, ConsoleInput>;

}  // namespace ftvm
