#include "kernel/idt.h"

#include <stdint.h>

#include "kernel/gdt.h"

extern "C" char isr_stubs[];  // isr.S: 256 stubs, 16 bytes apart

namespace testsvc::kernel::idt {
namespace {

constexpr int kVectors = 256;
constexpr int kStubBytes = 16;
constexpr uint8_t kNmiVector = 2;
constexpr uint8_t kDoubleFaultVector = 8;
constexpr uint8_t kMachineCheckVector = 18;
// Present, DPL 0, 64-bit interrupt gate: the CPU clears IF on entry, so handlers never nest.
constexpr uint8_t kInterruptGate = 0x8e;

struct [[gnu::packed]] Gate {
  uint16_t offset_low;
  uint16_t selector;
  uint8_t ist;
  uint8_t type_attributes;
  uint16_t offset_mid;
  uint32_t offset_high;
  uint32_t reserved;
};
static_assert(sizeof(Gate) == 16);

struct [[gnu::packed]] DescriptorTablePointer {
  uint16_t limit;
  uint64_t base;
};

alignas(16) constinit Gate g_idt[kVectors] = {};

uint8_t IstFor(int vector) {
  if (vector == kDoubleFaultVector) return gdt::kIstDoubleFault;
  if (vector == kNmiVector || vector == kMachineCheckVector) return gdt::kIstNmiMachineCheck;
  return 0;
}

}  // namespace

void Init() {
  for (int vector = 0; vector < kVectors; ++vector) {
    const uint64_t handler = reinterpret_cast<uint64_t>(isr_stubs + vector * kStubBytes);
    Gate& gate = g_idt[vector];
    gate.offset_low = static_cast<uint16_t>(handler);
    gate.selector = gdt::kCodeSelector;
    gate.ist = IstFor(vector);
    gate.type_attributes = kInterruptGate;
    gate.offset_mid = static_cast<uint16_t>(handler >> 16);
    gate.offset_high = static_cast<uint32_t>(handler >> 32);
    gate.reserved = 0;
  }
  const DescriptorTablePointer idtr = {sizeof(g_idt) - 1, reinterpret_cast<uint64_t>(g_idt)};
  asm volatile("lidt %0" : : "m"(idtr) : "memory");
}

}  // namespace testsvc::kernel::idt
