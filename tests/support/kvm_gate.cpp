#include "kvm_gate.h"

#include "vmm/exact_interrupt_window.h"
#include "vmm/host_probe.h"
#include "vmm/kvm.h"

namespace ftvm::testing {

const std::optional<std::string>& kvm_unavailable_reason() {
  static const std::optional<std::string> reason = []() -> std::optional<std::string> {
    auto kvm = Kvm::open();
    if (!kvm.ok()) return kvm.error().message;
    return std::nullopt;
  }();
  return reason;
}

const Result<GuestDebugFacts>& host_guest_debug() {
  static const Result<GuestDebugFacts> facts = probe_guest_debug();
  return facts;
}

const std::optional<std::string>& guest_breakpoints_unavailable_reason() {
  static const std::optional<std::string> reason = []() -> std::optional<std::string> {
    const auto& facts = host_guest_debug();
    if (!facts) return "the host probe failed: " + facts.error().message;
    if (!facts->breakpoint_cpl0) {
      return "this host's KVM reported no hardware breakpoint in CPL0 guest code (host probe; " +
             (facts->notes.empty() ? std::string("none reported") : facts->notes) + ")";
    }
    return std::nullopt;
  }();
  return reason;
}

const std::optional<std::string>& exact_interrupt_window_unavailable_reason() {
  static const std::optional<std::string> reason = []() -> std::optional<std::string> {
    const auto& facts = host_guest_debug();
    if (!facts) return "the host probe failed: " + facts.error().message;
    if (!exact_interrupt_window(Accel::kKvm, *facts)) {
      return "this host's KVM does not take the interrupt-window exit where the window opens "
             "(host probe; " +
             (facts->notes.empty() ? std::string("no note") : facts->notes) + ")";
    }
    return std::nullopt;
  }();
  return reason;
}

}  // namespace ftvm::testing
