#include "kernel/pit.h"

#include "kernel/port_io.h"

namespace testsvc::kernel::pit {
namespace {

constexpr uint8_t kChannel0LoHiMode2Binary = 0x34;  // channel 0, lobyte/hibyte, mode 2

constinit volatile uint64_t g_ticks = 0;

}  // namespace

void Init() {
  Outb(abi::kPitCommand, kChannel0LoHiMode2Binary);
  Outb(abi::kPitChannel0, kTickDivisor & 0xff);
  Outb(abi::kPitChannel0, kTickDivisor >> 8);
}

void OnInterrupt() {
  g_ticks = g_ticks + 1;
}

uint64_t Ticks() {
  return g_ticks;
}

}  // namespace testsvc::kernel::pit
