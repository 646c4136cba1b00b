// Base for devices whose registers are all one byte wide, like every ISA device of a PC.
#pragma once

#include <cstdint>
#include <span>

#include "vmm/devices/io_device.h"

namespace ftvm {

// A wider access (outw, inl) to an 8-bit device is split by the ISA bus into byte cycles at
// consecutive ports, lowest address first; guests rely on that (e.g. one outw programming both
// bytes of a register pair), so the split happens here rather than being refused.
class ByteIoDevice : public IoDevice {
 public:
  void read(uint64_t offset, std::span<uint8_t> data) final;
  void write(uint64_t offset, std::span<const uint8_t> data) final;

 protected:
  virtual uint8_t read_byte(uint64_t offset) = 0;
  virtual void write_byte(uint64_t offset, uint8_t value) = 0;
};

}  // namespace ftvm
