// The hardware-debug controls: the replayer searches for a breakpoint landmark with them, the
// recorder probes how hot a stop point is, and the host probe (host_probe.h) measures whether
// this host's KVM reports them at all. Which guest code reports these exits depends on the
// host (kvm_pvm: CPL0 only).
#pragma once

#include <cstdint>

#include "vmm/vcpu.h"
#include "vmm/result.h"

namespace ftvm {

// An execution breakpoint (DR0) at `rip`: KVM_EXIT_DEBUG before the instruction runs.
Result<void> arm_execution_breakpoint(Vcpu& vcpu, uint64_t rip);
// Executes one instruction, then KVM_EXIT_DEBUG.
Result<void> single_step(Vcpu& vcpu);
Result<void> clear_guest_debug(Vcpu& vcpu);

}  // namespace ftvm
