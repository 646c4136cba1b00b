// The register frame that isr.S builds on the interrupted stack. Also the saved context of
// every thread that is not running (see sched.h).
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace testsvc::kernel {

struct TrapFrame {
  // Pushed by isr_common, in reverse order.
  uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
  uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
  // Pushed by the stub (error_code is 0 for vectors without one).
  uint64_t vector, error_code;
  // Pushed by the CPU (in 64-bit mode SS:RSP always are).
  uint64_t rip, cs, rflags, rsp, ss;
};

// isr.S hard-codes this layout.
static_assert(sizeof(TrapFrame) == 22 * 8);
static_assert(offsetof(TrapFrame, rax) == 14 * 8);
static_assert(offsetof(TrapFrame, vector) == 15 * 8);
static_assert(offsetof(TrapFrame, rip) == 17 * 8);
static_assert(offsetof(TrapFrame, ss) == 21 * 8);

}  // namespace testsvc::kernel
