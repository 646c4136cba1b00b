#include "vmm/exact_interrupt_window.h"

#include <fmt/format.h>

namespace ftvm {

bool exact_interrupt_window(Accel accel, const std::optional<GuestDebugFacts>& facts) {
  if (accel == Accel::kEmu) return true;
  // A guest's kernel and user code both take interrupts: both must land exactly.
  return facts && facts->interrupt_window_cpl0 && facts->interrupt_window_cpl3;
}

std::string describe_interrupt_window(Accel accel, const std::optional<GuestDebugFacts>& facts) {
  if (accel == Accel::kEmu) {
    return "the interrupt-window exit is exact on the software CPU: record and replay deliver "
           "blocked interrupts there";
  }
  if (!facts) {
    return "the interrupt-window exit was not measured (the host probe failed): record and "
           "replay deliver blocked interrupts at the next exit or a logged landmark";
  }
  return fmt::format(
      "the interrupt-window exit comes where the window opens in guest kernel code (CPL0): {}; "
      "user code (CPL3): {}. Record and replay deliver blocked interrupts {}",
      facts->interrupt_window_cpl0 ? "yes" : "no", facts->interrupt_window_cpl3 ? "yes" : "no",
      exact_interrupt_window(accel, facts) ? "there"
                                           : "at the next exit or a logged landmark instead");
}

}  // namespace ftvm
