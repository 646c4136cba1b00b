#include "kernel/gdt.h"

#include <stddef.h>

#include "kernel/config.h"

namespace testsvc::kernel::gdt {
namespace {

struct [[gnu::packed]] Tss {
  uint32_t reserved0;
  uint64_t rsp[3];  // rsp[0]: stack for interrupts from CPL3 (SetKernelStack); 1, 2 unused
  uint64_t reserved1;
  uint64_t ist[7];
  uint64_t reserved2;
  uint16_t reserved3;
  uint16_t io_map_base;
};
static_assert(sizeof(Tss) == 104);

struct [[gnu::packed]] DescriptorTablePointer {
  uint16_t limit;
  uint64_t base;
};

constexpr uint64_t kNull = 0;
// Long-mode code: present, DPL 0, code, readable, L = 1, G = 1.
constexpr uint64_t kCode64 = 0x00af9a000000ffffull;
// Data: present, DPL 0, writable, D/B = 1, G = 1 (base and limit are ignored in long mode).
constexpr uint64_t kData = 0x00cf92000000ffffull;
// The same two at DPL 3, for the compute thread, with the accessed bit already set (so loading
// them from an IRETQ frame never writes to the GDT).
constexpr uint64_t kUserCode64 = 0x00affb000000ffffull;
constexpr uint64_t kUserData = 0x00cff3000000ffffull;
constexpr uint64_t kTssTypeAvailable64 = 0x89;  // present, DPL 0, type 9

constinit Tss g_tss = {};
alignas(16) constinit uint64_t g_gdt[7] = {};
static_assert(kTssSelector / 8 + 1 < kUserDataSelector / 8, "the TSS takes two slots");
static_assert(kUserCodeSelector / 8 < sizeof(g_gdt) / 8);
static_assert((kUserDataSelector & 3) == 3 && (kUserCodeSelector & 3) == 3);
alignas(16) constinit uint8_t g_ist_stacks[2][kIstStackBytes] = {};

// A 64-bit TSS descriptor takes two GDT slots.
void SetTssDescriptor(uint64_t* slot, const Tss* tss) {
  const uint64_t base = reinterpret_cast<uint64_t>(tss);
  const uint64_t limit = sizeof(Tss) - 1;
  slot[0] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (kTssTypeAvailable64 << 40) |
            (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
  slot[1] = base >> 32;
}

}  // namespace

void Init() {
  g_tss.ist[kIstDoubleFault - 1] = reinterpret_cast<uint64_t>(g_ist_stacks[0] + kIstStackBytes);
  g_tss.ist[kIstNmiMachineCheck - 1] = reinterpret_cast<uint64_t>(g_ist_stacks[1] + kIstStackBytes);
  g_tss.io_map_base = sizeof(Tss);  // no I/O permission bitmap: no port I/O at CPL3

  g_gdt[0] = kNull;
  g_gdt[kCodeSelector / 8] = kCode64;
  g_gdt[kDataSelector / 8] = kData;
  SetTssDescriptor(&g_gdt[kTssSelector / 8], &g_tss);
  g_gdt[kUserDataSelector / 8] = kUserData;
  g_gdt[kUserCodeSelector / 8] = kUserCode64;

  const DescriptorTablePointer gdtr = {sizeof(g_gdt) - 1, reinterpret_cast<uint64_t>(g_gdt)};
  asm volatile(
      "lgdt %[gdtr]\n\t"
      // Reload CS with a far return: push the selector and the target, then lretq.
      "pushq %[code]\n\t"
      "leaq 1f(%%rip), %%rax\n\t"
      "pushq %%rax\n\t"
      "lretq\n"
      "1:\n\t"
      "movl %[data], %%eax\n\t"
      "movw %%ax, %%ds\n\t"
      "movw %%ax, %%es\n\t"
      "movw %%ax, %%ss\n\t"
      "xorl %%eax, %%eax\n\t"
      "movw %%ax, %%fs\n\t"
      "movw %%ax, %%gs\n\t"
      "ltr %w[tss]"
      :
      : [gdtr] "m"(gdtr), [code] "i"(kCodeSelector), [data] "i"(kDataSelector),
        [tss] "r"(kTssSelector)
      : "rax", "memory");
}

void SetKernelStack(uint64_t top) {
  g_tss.rsp[0] = top;
}

}  // namespace testsvc::kernel::gdt
