#include "vmm/breakpoint_reach.h"

#include <fmt/format.h>

namespace ftvm {
namespace {

const char* auto_does(bool reported) {
  return reported ? "a breakpoint where its probe finds the search cheap, else a checkpoint"
                  : "a checkpoint";
}

}  // namespace

BreakpointReach breakpoint_reach(Accel accel, const std::optional<GuestDebugFacts>& facts) {
  if (accel == Accel::kEmu) return {true, true, true};
  // A probe that failed leaves the old assumption for kernel code; the VM's own setup reports
  // what is wrong with KVM. Nothing is assumed for user code.
  if (!facts) return {true, false, false};
  return {facts->breakpoint_cpl0, facts->breakpoint_cpl3, true};
}

BreakpointReach resume_flag_reach(Accel accel, const std::optional<GuestDebugFacts>& facts) {
  if (accel == Accel::kEmu) return {true, true, true};
  if (!facts) return {false, false, false};
  return {facts->breakpoint_cpl0 && facts->resume_flag_cpl0,
          facts->breakpoint_cpl3 && facts->resume_flag_cpl3, true};
}

ShortestLoop shortest_loop(Accel accel, const std::optional<GuestDebugFacts>& facts) {
  // The software CPU's probes count instructions, not time.
  if (accel == Accel::kEmu || !facts) return {};
  constexpr double kLoopInstructions = 2;
  const auto floor = [](double per_second) {
    if (per_second <= 0) return std::chrono::nanoseconds(0);
    return std::chrono::nanoseconds(static_cast<int64_t>(kLoopInstructions * 1e9 / per_second));
  };
  return {floor(facts->cpl0_instructions_per_second), floor(facts->cpl3_instructions_per_second)};
}

std::string describe_breakpoint_reach(const BreakpointReach& reach) {
  return fmt::format(
      "breakpoints reach guest kernel code (CPL0): {}; user code (CPL3): {}{}. --async auto "
      "places at CPL0 {}; at CPL3 {}",
      reach.cpl0 ? "yes" : "no", reach.cpl3 ? "yes" : "no",
      reach.measured ? "" : " (not measured: the host probe failed)", auto_does(reach.cpl0),
      auto_does(reach.cpl3));
}

}  // namespace ftvm
