#include "replay/fingerprint.h"

#include <xxhash.h>

#include <array>

namespace ftvm::replay {
namespace {

std::array<uint64_t, 17> gprs_and_flags(const kvm_regs& r) {
  return {r.rax,
          r.rbx,
          r.rcx,
          r.rdx,
          r.rsi,
          r.rdi,
          r.rsp,
          r.rbp,
          r.r8,
          r.r9,
          r.r10,
          r.r11,
          r.r12,
          r.r13,
          r.r14,
          r.r15,
          r.rflags & ~kRflagsDebugBits};
}

}  // namespace

uint64_t register_fingerprint(const kvm_regs& regs) {
  const auto values = gprs_and_flags(regs);
  return XXH3_64bits(values.data(), sizeof(values));
}

uint64_t registers_digest(const kvm_regs& regs) {
  const auto values = gprs_and_flags(regs);
  return XXH3_64bits_withSeed(values.data(), sizeof(values), regs.rip);
}

}  // namespace ftvm::replay
