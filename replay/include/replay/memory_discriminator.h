// What a breakpoint landmark records beside its register fingerprint: a 32-bit digest of the
// guest memory that the code at the stop point is about to touch.
//
// A loop whose registers repeat while its state lives in memory (`incq counter(%rip); jmp`)
// executes its RIP with the same registers in every iteration; the fingerprint alone stops a
// replay's search at the first one (issue 15, item 4). The memory such a loop changes is the
// memory it addresses, so the recorder decodes the straight-line code from RIP (following
// direct unconditional jumps, up to a few instructions), takes each memory operand whose
// address the registers at the stop point already determine, and digests the bytes there.
// The replayer computes the same digest only at hits whose registers match, so a search pays
// for it once per candidate, not once per hit.
//
// Reads go to guest RAM only (never MMIO, which a read could disturb), and the digest is a
// function of registers and RAM: an exact replay at the same point computes the same value.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <functional>
#include <span>

#include "vmm/guest_memory.h"
#include "vmm/result.h"
#include "vmm/vcpu.h"

namespace ftvm::replay {

// Reads guest-virtual memory; false where it is not mapped to RAM.
using GuestVirtualRead = std::function<bool(uint64_t gva, std::span<uint8_t> out)>;

// The FS and GS bases, for operands with a segment override (the others are flat in long mode).
struct SegmentBases {
  uint64_t fs = 0;
  uint64_t gs = 0;
};

class MemoryDiscriminator {
 public:
  // At most this many instructions are decoded from RIP, and this many operands read.
  static constexpr int kMaxInstructions = 8;
  static constexpr int kMaxOperands = 8;

  MemoryDiscriminator();
  ~MemoryDiscriminator();
  MemoryDiscriminator(const MemoryDiscriminator&) = delete;
  MemoryDiscriminator& operator=(const MemoryDiscriminator&) = delete;

  // The digest at `regs.rip`; 0 when no operand ahead could be read (nothing to tell
  // iterations apart by), never 0 otherwise.
  Result<uint32_t> digest(const kvm_regs& regs, const SegmentBases& bases,
                          const GuestVirtualRead& read) const;

  // The same for a vCPU stopped at `regs` (its segment bases are read only when an operand
  // needs them).
  Result<uint32_t> digest(const Vcpu& vcpu, const GuestMemory& memory, const kvm_regs& regs) const;

 private:
  size_t handle_ = 0;  // Capstone's csh; 0 where it could not be opened
};

}  // namespace ftvm::replay
