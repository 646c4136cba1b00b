// Digests of vCPU registers: the fingerprint that identifies an asynchronous stop point (all
// GPRs and RFLAGS, RIP kept apart), and the registers digest logged at landmarks.
#pragma once

#include <linux/kvm.h>

#include <cstdint>

namespace ftvm::replay {

// RFLAGS.RF and TF are set by debugging (ours), not by the guest's computation.
inline constexpr uint64_t kRflagsDebugBits = (1ull << 16) | (1ull << 8);

uint64_t register_fingerprint(const kvm_regs& regs);
uint64_t registers_digest(const kvm_regs& regs);

}  // namespace ftvm::replay
