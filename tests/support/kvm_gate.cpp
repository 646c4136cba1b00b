#include "kvm_gate.h"

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

}  // namespace ftvm::testing
