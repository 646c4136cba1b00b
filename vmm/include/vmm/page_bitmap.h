// Pages of guest RAM as a bitmap, one bit per 4 KiB page from GPA 0 (KVM's dirty log, the
// software CPU's write log, the VMM's own writes: host_write_log.h).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace ftvm {

inline constexpr uint64_t kBitmapPageBytes = 4096;

// The guest-physical addresses of the pages marked (bit n = page n), ascending.
std::vector<uint64_t> dirty_pages_from_bitmap(std::span<const uint64_t> bitmap);

}  // namespace ftvm
