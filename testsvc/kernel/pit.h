// The 8254 PIT, channel 0: the kernel's only clock.
#pragma once

#include <stdint.h>

#include "testsvc/abi.h"

namespace testsvc::kernel::pit {

// Reload value that divides `input_hz` down to `tick_hz`, rounded to nearest.
constexpr uint16_t Divisor(uint32_t input_hz, uint32_t tick_hz) {
  return static_cast<uint16_t>((input_hz + tick_hz / 2) / tick_hz);
}

inline constexpr uint16_t kTickDivisor = Divisor(abi::kPitInputHz, abi::kTickHz);
static_assert((abi::kPitInputHz + abi::kTickHz / 2) / abi::kTickHz <= 0xffff && kTickDivisor > 1,
              "the tick rate must fit the PIT's 16-bit counter");

// Channel 0, mode 2 (rate generator), binary, at abi::kTickHz.
void Init();

// IRQ0 handler body: counts one tick.
void OnInterrupt();

// Ticks since Init. Only changed by the IRQ handler; a 64-bit aligned load is atomic.
uint64_t Ticks();

}  // namespace testsvc::kernel::pit
