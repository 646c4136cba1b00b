// Privileged CPU helpers for a single-CPU kernel.
#pragma once

#include <stdint.h>

namespace testsvc::kernel {

inline constexpr uint64_t kRflagsIf = 1u << 9;

inline uint64_t ReadRflags() {
  uint64_t rflags;
  asm volatile("pushfq\n\tpopq %0" : "=r"(rflags) : : "memory");
  return rflags;
}

inline bool InterruptsEnabled() {
  return (ReadRflags() & kRflagsIf) != 0;
}
inline void DisableInterrupts() {
  asm volatile("cli" : : : "memory");
}
inline void EnableInterrupts() {
  asm volatile("sti" : : : "memory");
}

inline uint64_t ReadCr2() {
  uint64_t value;
  asm volatile("movq %%cr2, %0" : "=r"(value));
  return value;
}

// Stops this CPU for good: with IF = 0, HLT is only left by NMI/SMI, hence the loop.
[[noreturn]] inline void HaltForever() {
  for (;;) asm volatile("cli\n\thlt" : : : "memory");
}

// Disables interrupts for its lifetime and restores the previous state. On this uniprocessor
// kernel, this is what makes a section atomic with respect to IRQ handlers and preemption.
class IrqGuard {
 public:
  IrqGuard() : was_enabled_(InterruptsEnabled()) { DisableInterrupts(); }
  ~IrqGuard() {
    if (was_enabled_) EnableInterrupts();
  }
  IrqGuard(const IrqGuard&) = delete;
  IrqGuard& operator=(const IrqGuard&) = delete;

 private:
  bool was_enabled_;
};

}  // namespace testsvc::kernel
