// The kernel's own page tables: an identity map of the first 4 GiB of guest-physical space
// (RAM and the MMIO window) with 2 MiB pages, loaded into CR3 early at boot so that nothing
// depends on the tables the VMM built for the jump into long mode (abi.h).
//
// Every page is user-accessible (U/S = 1), kernel image included: the compute thread runs at
// CPL3 (compute.h) and needs its code, its stack and its progress counter, and this is a test
// guest with nothing to protect from itself. Splitting the image into user and supervisor
// pages would need 4 KiB pages and a linker script that separates them, for no gain here.
// (SMEP/SMAP would forbid the kernel to use user pages: Init makes sure they are off.)
#pragma once

#include <stdint.h>

#include "testsvc/abi.h"

namespace testsvc::kernel::paging {

inline constexpr uint64_t kMappedBytes = 4ull << 30;
static_assert(abi::kMaxRamBytes <= kMappedBytes && abi::kMmioBase + abi::kMmioSize <= kMappedBytes,
              "the identity map must cover RAM and the MMIO window");

// Builds the tables (in .bss) and loads CR3. Interrupts must be disabled.
void Init();

}  // namespace testsvc::kernel::paging
