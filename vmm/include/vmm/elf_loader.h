// ELF64 loader for guest kernels. parse_elf64() is a pure validator of untrusted bytes: it
// checks every header field and every range (with overflow checks) before anything is copied,
// and says precisely what is wrong with a bad image.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "vmm/guest_memory.h"
#include "vmm/result.h"

namespace ftvm {

struct ElfSegment {
  uint64_t gpa;           // p_paddr: where the segment lands in guest-physical memory
  uint64_t file_offset;   // p_offset
  uint64_t file_bytes;    // p_filesz, copied from the file
  uint64_t memory_bytes;  // p_memsz, the rest is zero-filled
  bool executable;
};

struct ElfImage {
  uint64_t entry;
  std::vector<ElfSegment> segments;
};

struct LoadLimits {
  uint64_t min_gpa;    // segments may not start below this (boot structures live there)
  uint64_t ram_bytes;  // segments must end within RAM
};

Result<ElfImage> parse_elf64(std::span<const uint8_t> file, const LoadLimits& limits);

// Copies the segments of a parsed image into guest memory and zero-fills their tails.
Result<void> load_elf64(const ElfImage& image, std::span<const uint8_t> file,
                        const GuestMemory& memory);

}  // namespace ftvm
