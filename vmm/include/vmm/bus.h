// A bus of address ranges (one for port I/O, one for MMIO) that routes guest accesses to
// devices. Ranges may not overlap: a second device claiming an address is a configuration
// bug, reported when it is inserted rather than discovered when the guest touches it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "vmm/devices/io_device.h"
#include "vmm/result.h"

namespace ftvm {

class Bus {
 public:
  struct Route {
    IoDevice* device;
    uint64_t offset;  // of the access within the device's range
  };

  Result<void> insert(uint64_t base, uint64_t length, IoDevice& device, std::string name);
  // The device whose range holds every byte of [address, address + size), if any.
  std::optional<Route> find(uint64_t address, uint64_t size) const;
  std::string name_at(uint64_t address) const;

 private:
  struct Range {
    uint64_t length;
    IoDevice* device;
    std::string name;
  };
  const std::pair<const uint64_t, Range>* range_containing(uint64_t address) const;
  std::map<uint64_t, Range> ranges_;  // by base
};

}  // namespace ftvm
