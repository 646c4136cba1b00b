#include "vmm/boot.h"

#include <fmt/format.h>

#include <array>

#include "testsvc/abi.h"

namespace ftvm {
namespace {

namespace abi = testsvc::abi;

constexpr uint64_t kPageSize = 4096;
constexpr uint64_t kPresent = 1ull << 0;
constexpr uint64_t kWritable = 1ull << 1;
constexpr uint64_t kLargePage = 1ull << 7;
constexpr uint64_t kGiB = 1ull << 30;
constexpr uint64_t k2MiB = 2ull << 20;
constexpr uint64_t kPageDirectories = abi::kIdentityMapBytes / kGiB;

constexpr uint64_t kPml4Gpa = abi::kPageTablesGpa;
constexpr uint64_t kPdptGpa = kPml4Gpa + kPageSize;
constexpr uint64_t kFirstPdGpa = kPdptGpa + kPageSize;
constexpr uint64_t kPageTablesEnd = kFirstPdGpa + kPageDirectories * kPageSize;
static_assert(kPageTablesEnd <= abi::kBootStackTop - 0x10000, "page tables collide with stack");

constexpr uint64_t kCr0Pe = 1ull << 0, kCr0Mp = 1ull << 1, kCr0Et = 1ull << 4, kCr0Ne = 1ull << 5,
                   kCr0Wp = 1ull << 16, kCr0Pg = 1ull << 31;
constexpr uint64_t kCr4Pae = 1ull << 5;
constexpr uint64_t kEferLme = 1ull << 8, kEferLma = 1ull << 10;

// GDT: null, 64-bit code, data, (spare). Flags per the SDM descriptor layout.
constexpr std::array<uint64_t, 4> kGdt = {0, 0x00af9b000000ffffull, 0x00cf93000000ffffull, 0};

Result<void> write_page_tables(const GuestMemory& memory) {
  std::array<uint64_t, 512> table{};
  table[0] = kPdptGpa | kPresent | kWritable;
  if (auto r = memory.write_object(kPml4Gpa, table); !r) return r;
  table.fill(0);
  for (uint64_t i = 0; i < kPageDirectories; ++i) {
    table[i] = (kFirstPdGpa + i * kPageSize) | kPresent | kWritable;
  }
  if (auto r = memory.write_object(kPdptGpa, table); !r) return r;
  for (uint64_t pd = 0; pd < kPageDirectories; ++pd) {
    for (uint64_t i = 0; i < 512; ++i) {
      table[i] = (pd * kGiB + i * k2MiB) | kPresent | kWritable | kLargePage;
    }
    if (auto r = memory.write_object(kFirstPdGpa + pd * kPageSize, table); !r) return r;
  }
  return {};
}

kvm_segment flat_segment(uint16_t selector, uint8_t type, bool code) {
  kvm_segment s{};
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = type;
  s.present = 1;
  s.dpl = 0;
  s.db = code ? 0 : 1;  // long-mode code requires D=0 with L=1
  s.s = 1;
  s.l = code ? 1 : 0;
  s.g = 1;
  return s;
}

kvm_sregs long_mode_sregs(kvm_sregs sregs) {
  sregs.cr3 = kPml4Gpa;
  sregs.cr4 = kCr4Pae;
  sregs.cr0 = kCr0Pe | kCr0Mp | kCr0Et | kCr0Ne | kCr0Wp | kCr0Pg;
  sregs.efer = kEferLme | kEferLma;
  sregs.cs = flat_segment(abi::kBootCodeSelector, 0xb, true);
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss =
      flat_segment(abi::kBootDataSelector, 0x3, false);
  // VMX refuses (and KVM then falls back to its instruction emulator for) a long-mode guest
  // whose task register is not a 64-bit busy TSS, so give it one even though the kernel will
  // load its own.
  sregs.tr = kvm_segment{};
  sregs.tr.type = 0xb;
  sregs.tr.present = 1;
  sregs.tr.limit = 0x67;
  sregs.ldt = kvm_segment{};
  sregs.ldt.type = 0x2;
  sregs.ldt.present = 1;
  sregs.ldt.limit = 0xffff;
  sregs.gdt.base = abi::kBootGdtGpa;
  sregs.gdt.limit = sizeof(kGdt) - 1;
  // An empty IDT: a fault before the kernel installs its own ends in a triple fault, which the
  // VMM reports with registers, rather than in a jump through garbage.
  sregs.idt.base = 0;
  sregs.idt.limit = 0;
  return sregs;
}

}  // namespace

Result<BootState> prepare_long_mode_boot(const GuestMemory& memory, uint64_t entry,
                                         const kvm_sregs& reset_sregs) {
  if (memory.size() < abi::kGuestImageMinGpa) {
    return make_error(
        fmt::format("guest memory of {} bytes cannot hold the boot structures", memory.size()));
  }
  if (auto r = write_page_tables(memory); !r) return r.error();
  if (auto r = memory.write_object(abi::kBootGdtGpa, kGdt); !r) return r.error();
  const abi::BootInfo info{abi::kBootInfoMagic, abi::kAbiVersion, memory.size(), 0};
  if (auto r = memory.write_object(abi::kBootInfoGpa, info); !r) return r.error();

  BootState state{};
  state.sregs = long_mode_sregs(reset_sregs);
  state.regs.rip = entry;
  state.regs.rsp = abi::kBootStackTop;
  state.regs.rdi = abi::kBootInfoGpa;
  state.regs.rflags = 0x2;  // reserved bit 1; IF=0 until the kernel has an IDT
  return state;
}

}  // namespace ftvm
