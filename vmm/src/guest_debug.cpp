#include "vmm/guest_debug.h"

namespace ftvm {
namespace {

constexpr uint64_t kDr7EnableLocal0 = 0x1;  // DR0, execute, 1 byte

}  // namespace

Result<void> arm_execution_breakpoint(Vcpu& vcpu, uint64_t rip) {
  kvm_guest_debug debug{};
  debug.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
  debug.arch.debugreg[0] = rip;
  debug.arch.debugreg[7] = kDr7EnableLocal0;
  return vcpu.set_guest_debug(debug);
}

Result<void> single_step(Vcpu& vcpu) {
  kvm_guest_debug debug{};
  debug.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
  return vcpu.set_guest_debug(debug);
}

Result<void> clear_guest_debug(Vcpu& vcpu) {
  return vcpu.set_guest_debug(kvm_guest_debug{});
}

}  // namespace ftvm
