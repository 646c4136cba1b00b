// What a person needs to debug a guest that died: registers, control registers, and the
// instructions at RIP disassembled (Capstone).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "vmm/guest_memory.h"
#include "vmm/vcpu.h"

namespace ftvm {

// The general-purpose registers as they were at one point (VcpuRunner::last_seen_registers).
struct RegistersSeen {
  kvm_regs regs{};
  uint64_t exit_count = 0;
};

std::string describe_registers(const kvm_regs& regs, const kvm_sregs& sregs);
// Disassembles up to `max_instructions` starting at guest-virtual `rip`.
std::string disassemble_at(const Vcpu& vcpu, const GuestMemory& memory, uint64_t rip,
                           int max_instructions = 4);
// The vCPU's registers and the code at RIP. Where the host has reset the vCPU (kvm_amd does on
// a triple fault: the state at the fault is lost), it says so and shows `last_seen` instead,
// the last state ftvm saw before.
std::string crash_report(const Vcpu& vcpu, const GuestMemory& memory,
                         const std::optional<RegistersSeen>& last_seen = std::nullopt);

}  // namespace ftvm
