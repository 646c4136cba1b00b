// A device that the guest reaches through port I/O or MMIO.
//
// Offsets are relative to the base of the range the device was registered at on the Bus, so
// one model can sit at any address. Every access is a guest instruction; device models must be
// deterministic functions of their state, the access, and the values their backends hand them.
#pragma once

#include <cstdint>
#include <span>

namespace ftvm {

class IoDevice {
 public:
  virtual ~IoDevice() = default;
  // Fills `data` (1, 2, 4 or 8 bytes) with the value read at `offset`.
  virtual void read(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void write(uint64_t offset, std::span<const uint8_t> data) = 0;
};

}  // namespace ftvm
