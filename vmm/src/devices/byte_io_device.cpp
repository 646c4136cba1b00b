#include "vmm/devices/byte_io_device.h"

namespace ftvm {

void ByteIoDevice::read(uint64_t offset, std::span<uint8_t> data) {
  for (uint8_t& byte : data) byte = read_byte(offset++);
}

void ByteIoDevice::write(uint64_t offset, std::span<const uint8_t> data) {
  for (uint8_t byte : data) write_byte(offset++, byte);
}

}  // namespace ftvm
