#include "kernel/paging.h"

#include <stddef.h>

namespace testsvc::kernel::paging {
namespace {

// Page-table entry bits.
constexpr uint64_t kPresent = 1ull << 0;
constexpr uint64_t kWritable = 1ull << 1;
constexpr uint64_t kUser = 1ull << 2;
constexpr uint64_t kWriteThrough = 1ull << 3;
constexpr uint64_t kCacheDisable = 1ull << 4;
constexpr uint64_t kLargePage = 1ull << 7;  // in a page directory: a 2 MiB page

constexpr uint64_t kCr4Pge = 1ull << 7;
constexpr uint64_t kCr4Smep = 1ull << 20;
constexpr uint64_t kCr4Smap = 1ull << 21;

constexpr size_t kEntriesPerTable = 512;
constexpr uint64_t kLargePageBytes = 2ull << 20;
constexpr uint64_t kDirectoryBytes = kLargePageBytes * kEntriesPerTable;  // 1 GiB
constexpr size_t kDirectories = kMappedBytes / kDirectoryBytes;
static_assert(kDirectories <= kEntriesPerTable);

struct alignas(4096) Table {
  uint64_t entries[kEntriesPerTable];
};

struct Directories {
  Table tables[kDirectories];
};

constexpr bool InMmioWindow(uint64_t address) {
  return address >= abi::kMmioBase && address < abi::kMmioBase + abi::kMmioSize;
}

// The page directories hold no pointers, only physical addresses: they are computed by the
// compiler and loaded with the image (.data). Filling them at boot would take ~50 ms on hosts
// that emulate CPL0 code instruction by instruction.
constexpr Directories MakeDirectories() {
  Directories directories = {};
  for (size_t d = 0; d < kDirectories; ++d) {
    for (size_t i = 0; i < kEntriesPerTable; ++i) {
      const uint64_t address = d * kDirectoryBytes + i * kLargePageBytes;
      uint64_t entry = address | kPresent | kWritable | kUser | kLargePage;
      // Device registers: uncached (PCD + PWT select PAT entry 3, UC, with the reset PAT).
      if (InMmioWindow(address)) entry |= kCacheDisable | kWriteThrough;
      directories.tables[d].entries[i] = entry;
    }
  }
  return directories;
}

// One PML4, one PDPT (both filled by Init: they point to tables), one page directory per GiB.
constinit Table g_pml4 = {};
constinit Table g_pdpt = {};
constinit Directories g_directories = MakeDirectories();

// The tables are identity mapped too, so their addresses are their physical addresses.
uint64_t PhysicalAddress(const Table& table) {
  return reinterpret_cast<uint64_t>(&table);
}

}  // namespace

void Init() {
  constexpr uint64_t kTableFlags = kPresent | kWritable | kUser;
  for (size_t d = 0; d < kDirectories; ++d) {
    g_pdpt.entries[d] = PhysicalAddress(g_directories.tables[d]) | kTableFlags;
  }
  g_pml4.entries[0] = PhysicalAddress(g_pdpt) | kTableFlags;

  // SMEP/SMAP would forbid the kernel to run or touch user pages, i.e. all of them. PGE is
  // not used: clearing it flushes any global translation left from the VMM's tables, which
  // loading CR3 alone would keep (and they are supervisor-only).
  constexpr uint64_t kCr4Unwanted = kCr4Pge | kCr4Smep | kCr4Smap;
  uint64_t cr4;
  asm volatile("movq %%cr4, %0" : "=r"(cr4));
  if ((cr4 & kCr4Unwanted) != 0) {
    asm volatile("movq %0, %%cr4" : : "r"(cr4 & ~kCr4Unwanted) : "memory");
  }
  asm volatile("movq %0, %%cr3" : : "r"(PhysicalAddress(g_pml4)) : "memory");
}

}  // namespace testsvc::kernel::paging
