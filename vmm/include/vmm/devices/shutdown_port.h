// The guest's way to stop the VM with a verdict (testsvc::abi::kShutdownPort): one 32-bit write
// of the exit status.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "vmm/devices/io_device.h"

namespace ftvm {

// A 4-byte write-only device. Only a 4-byte write at offset 0 is a request (the latest one
// wins); narrower or misaligned writes are ignored, and reads return 0xff bytes.
class ShutdownPort final : public IoDevice {
 public:
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  std::optional<uint32_t> requested_status() const { return requested_status_; }

 private:
  std::optional<uint32_t> requested_status_;
};

}  // namespace ftvm
