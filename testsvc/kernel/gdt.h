// The kernel's own GDT and TSS (the VMM's boot GDT lives in memory we do not own).
//
// Slots: 0 null, 0x08 kernel code, 0x10 kernel data, 0x18 + 0x20 the TSS, 0x28 user data,
// 0x30 user code (64-bit). The user slots are for the compute thread, which runs at CPL3 and
// is only ever entered by IRETQ (no SYSCALL/SYSRET, so their order does not matter).
#pragma once

#include <stdint.h>

#include "kernel/asm_defs.h"

namespace testsvc::kernel::gdt {

inline constexpr uint16_t kCodeSelector = TESTSVC_CODE_SELECTOR;
inline constexpr uint16_t kDataSelector = TESTSVC_DATA_SELECTOR;
inline constexpr uint16_t kTssSelector = TESTSVC_TSS_SELECTOR;
// With RPL 3, ready for a CPL3 IRETQ frame.
inline constexpr uint16_t kUserDataSelector = TESTSVC_USER_DATA_SELECTOR;
inline constexpr uint16_t kUserCodeSelector = TESTSVC_USER_CODE_SELECTOR;

// Interrupt stack table slots (TSS.IST1..7) used by idt.cpp.
inline constexpr uint8_t kIstDoubleFault = 1;
inline constexpr uint8_t kIstNmiMachineCheck = 2;

// Loads the GDT, reloads every segment register, loads the TSS (whose IST stacks give #DF,
// NMI and #MC a known-good stack even after a kernel stack overflow).
void Init();

// Sets TSS.RSP0, the stack the CPU switches to when an interrupt or exception arrives at CPL3.
// The scheduler sets it to the kernel stack top of every thread it switches to.
void SetKernelStack(uint64_t top);

}  // namespace testsvc::kernel::gdt
