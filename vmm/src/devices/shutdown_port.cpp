#include "vmm/devices/shutdown_port.h"

#include <algorithm>

namespace ftvm {

void ShutdownPort::read(uint64_t /*offset*/, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0xff);
}

void ShutdownPort::write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset != 0 || data.size() != sizeof(uint32_t)) return;
  // Port I/O data is little-endian, as x86 puts it on the bus.
  requested_status_ = uint32_t{data[0]} | uint32_t{data[1]} << 8 | uint32_t{data[2]} << 16 |
                      uint32_t{data[3]} << 24;
}

}  // namespace ftvm
