// The kernel's own GDT and TSS (the VMM's boot GDT lives in memory we do not own).
#pragma once

#include <stdint.h>

#include "kernel/asm_defs.h"

namespace testsvc::kernel::gdt {

inline constexpr uint16_t kCodeSelector = TESTSVC_CODE_SELECTOR;
inline constexpr uint16_t kDataSelector = TESTSVC_DATA_SELECTOR;
inline constexpr uint16_t kTssSelector = TESTSVC_TSS_SELECTOR;

// Interrupt stack table slots (TSS.IST1..7) used by idt.cpp.
inline constexpr uint8_t kIstDoubleFault = 1;
inline constexpr uint8_t kIstNmiMachineCheck = 2;

// Loads the GDT, reloads every segment register, loads the TSS (whose IST stacks give #DF,
// NMI and #MC a known-good stack even after a kernel stack overflow).
void Init();

}  // namespace testsvc::kernel::gdt
