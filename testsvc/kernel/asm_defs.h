// Constants shared by the assembly files and C++ (plain macros, so the assembler's
// preprocessor can read them). C++ code uses the typed constants defined from them.
#pragma once

// Kernel GDT selectors (gdt.h).
#define TESTSVC_CODE_SELECTOR 0x08
#define TESTSVC_DATA_SELECTOR 0x10
#define TESTSVC_TSS_SELECTOR 0x18  // a 64-bit TSS descriptor takes two slots: 0x18 and 0x20
// User (DPL 3) selectors, RPL 3 included (gdt.h).
#define TESTSVC_USER_DATA_SELECTOR 0x2b
#define TESTSVC_USER_CODE_SELECTOR 0x33

// The vector number a voluntary context switch carries in its TrapFrame (config.h).
#define TESTSVC_YIELD_VECTOR 0x30

// Size of the boot stack of entry.S, which becomes the idle thread's stack.
#define TESTSVC_BOOT_STACK_BYTES 16384
