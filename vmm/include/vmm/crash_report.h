// What a person needs to debug a guest that died: registers, control registers, and the
// instructions at RIP disassembled (Capstone).
#pragma once

#include <string>

#include "vmm/guest_memory.h"
#include "vmm/kvm.h"

namespace ftvm {

std::string describe_registers(const kvm_regs& regs, const kvm_sregs& sregs);
// Disassembles up to `max_instructions` starting at guest-virtual `rip`.
std::string disassemble_at(const KvmVcpu& vcpu, const GuestMemory& memory, uint64_t rip,
                           int max_instructions = 4);
std::string crash_report(const KvmVcpu& vcpu, const GuestMemory& memory);

}  // namespace ftvm
