// The hardware-debug controls both drivers use: the replayer to search for a breakpoint
// landmark, the recorder to probe how hot a stop point is. Only guest code that KVM emulates
// or single-steps (CPL0 on this host) reports these exits.
#pragma once

#include <cstdint>

#include "vmm/kvm.h"
#include "vmm/result.h"

namespace ftvm::replay {

// An execution breakpoint (DR0) at `rip`: KVM_EXIT_DEBUG before the instruction runs.
Result<void> arm_execution_breakpoint(KvmVcpu& vcpu, uint64_t rip);
// Executes one instruction, then KVM_EXIT_DEBUG.
Result<void> single_step(KvmVcpu& vcpu);
Result<void> clear_guest_debug(KvmVcpu& vcpu);

}  // namespace ftvm::replay
