#include "vmm/bus.h"

#include <fmt/format.h>

namespace ftvm {

Result<void> Bus::insert(uint64_t base, uint64_t length, IoDevice& device, std::string name) {
  if (length == 0 || base + length < base) {
    return make_error(fmt::format("bus: device '{}' has an empty or wrapping range {:#x}+{:#x}",
                                  name, base, length));
  }
  auto next = ranges_.lower_bound(base);
  if (next != ranges_.end() && next->first < base + length) {
    return make_error(fmt::format("bus: '{}' at {:#x}+{:#x} overlaps '{}' at {:#x}", name, base,
                                  length, next->second.name, next->first));
  }
  if (next != ranges_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.length > base) {
      return make_error(fmt::format("bus: '{}' at {:#x}+{:#x} overlaps '{}' at {:#x}", name, base,
                                    length, prev->second.name, prev->first));
    }
  }
  ranges_.emplace(base, Range{length, &device, std::move(name)});
  return {};
}

const std::pair<const uint64_t, Bus::Range>* Bus::range_containing(uint64_t address) const {
  auto it = ranges_.upper_bound(address);
  if (it == ranges_.begin()) return nullptr;
  --it;
  if (address - it->first >= it->second.length) return nullptr;
  return &*it;
}

std::optional<Bus::Route> Bus::find(uint64_t address, uint64_t size) const {
  const auto* entry = range_containing(address);
  if (entry == nullptr || size == 0) return std::nullopt;
  uint64_t offset = address - entry->first;
  if (size > entry->second.length - offset) return std::nullopt;
  return Route{entry->second.device, offset};
}

std::string Bus::name_at(uint64_t address) const {
  const auto* entry = range_containing(address);
  return entry ? entry->second.name : std::string();
}

}  // namespace ftvm
