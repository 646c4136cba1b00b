// One step of the compute thread's work. Pure and header-only.
#pragma once

#include <stdint.h>

namespace testsvc::kernel {

// xorshift64 (13, 7, 17) then a multiply by an odd constant: each part is a bijection of
// uint64_t, so a non-zero state never collapses to zero. Registers only, no memory, no exits.
constexpr uint64_t ComputeStep(uint64_t state) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state * 0x2545f4914f6cdd1dull;
}

}  // namespace testsvc::kernel
