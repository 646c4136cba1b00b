// Long-mode boot: builds identity page tables, a flat GDT and the BootInfo in guest memory
// (at the addresses testsvc/abi.h fixes), and the vCPU register state that enters the kernel
// directly in 64-bit mode. No firmware, no real mode.
#pragma once

#include <linux/kvm.h>

#include <cstdint>

#include "vmm/guest_memory.h"
#include "vmm/result.h"

namespace ftvm {

struct BootState {
  kvm_regs regs;
  kvm_sregs sregs;
};

// Writes the page tables, GDT and BootInfo; returns the register state to enter `entry`.
// `sregs` should come from the vCPU (KVM_GET_SREGS) so fields we do not set keep their reset
// values.
Result<BootState> prepare_long_mode_boot(const GuestMemory& memory, uint64_t entry,
                                         const kvm_sregs& reset_sregs);

}  // namespace ftvm
