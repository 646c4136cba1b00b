#include "replay/memory_discriminator.h"

#include <capstone/capstone.h>
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <bitset>
#include <optional>
#include <vector>

namespace ftvm::replay {
namespace {

constexpr uint64_t kPageSize = 4096;
constexpr size_t kMaxInstructionBytes = 15;
constexpr size_t kMaxOperandBytes = 16;

// A general-purpose register as Capstone names one of its parts: which of kvm_regs' 16, and
// how many low bits the part covers (AH and friends: bits 8-15, which address nothing).
struct GprPart {
  int index = -1;
  uint64_t mask = ~0ull;
};

using Gpr = __u64 kvm_regs::*;
constexpr size_t kRspIndex = 4;  // in kGprs and kGprNames
constexpr std::array<Gpr, 16> kGprs = {
    &kvm_regs::rax, &kvm_regs::rcx, &kvm_regs::rdx, &kvm_regs::rbx, &kvm_regs::rsp, &kvm_regs::rbp,
    &kvm_regs::rsi, &kvm_regs::rdi, &kvm_regs::r8,  &kvm_regs::r9,  &kvm_regs::r10, &kvm_regs::r11,
    &kvm_regs::r12, &kvm_regs::r13, &kvm_regs::r14, &kvm_regs::r15};

// Each row: the 64-, 32-, 16- and 8-bit names of kGprs[row] (and the high byte, where any).
struct GprNames {
  x86_reg q, d, w, b, h;
};
constexpr std::array<GprNames, 16> kGprNames = {{
    {X86_REG_RAX, X86_REG_EAX, X86_REG_AX, X86_REG_AL, X86_REG_AH},
    {X86_REG_RCX, X86_REG_ECX, X86_REG_CX, X86_REG_CL, X86_REG_CH},
    {X86_REG_RDX, X86_REG_EDX, X86_REG_DX, X86_REG_DL, X86_REG_DH},
    {X86_REG_RBX, X86_REG_EBX, X86_REG_BX, X86_REG_BL, X86_REG_BH},
    {X86_REG_RSP, X86_REG_ESP, X86_REG_SP, X86_REG_SPL, X86_REG_INVALID},
    {X86_REG_RBP, X86_REG_EBP, X86_REG_BP, X86_REG_BPL, X86_REG_INVALID},
    {X86_REG_RSI, X86_REG_ESI, X86_REG_SI, X86_REG_SIL, X86_REG_INVALID},
    {X86_REG_RDI, X86_REG_EDI, X86_REG_DI, X86_REG_DIL, X86_REG_INVALID},
    {X86_REG_R8, X86_REG_R8D, X86_REG_R8W, X86_REG_R8B, X86_REG_INVALID},
    {X86_REG_R9, X86_REG_R9D, X86_REG_R9W, X86_REG_R9B, X86_REG_INVALID},
    {X86_REG_R10, X86_REG_R10D, X86_REG_R10W, X86_REG_R10B, X86_REG_INVALID},
    {X86_REG_R11, X86_REG_R11D, X86_REG_R11W, X86_REG_R11B, X86_REG_INVALID},
    {X86_REG_R12, X86_REG_R12D, X86_REG_R12W, X86_REG_R12B, X86_REG_INVALID},
    {X86_REG_R13, X86_REG_R13D, X86_REG_R13W, X86_REG_R13B, X86_REG_INVALID},
    {X86_REG_R14, X86_REG_R14D, X86_REG_R14W, X86_REG_R14B, X86_REG_INVALID},
    {X86_REG_R15, X86_REG_R15D, X86_REG_R15W, X86_REG_R15B, X86_REG_INVALID},
}};

std::optional<GprPart> gpr_part(unsigned reg) {
  for (int i = 0; i < static_cast<int>(kGprNames.size()); ++i) {
    const GprNames& n = kGprNames[i];
    if (reg == n.q) return GprPart{i, ~0ull};
    if (reg == n.d) return GprPart{i, 0xffffffffull};
    if (reg == n.w) return GprPart{i, 0xffffull};
    if (reg == n.b || (n.h != X86_REG_INVALID && reg == n.h)) return GprPart{i, 0xffull};
  }
  return std::nullopt;
}

// The walk from RIP: what the registers at the stop point still say as instructions go by.
class Walk {
 public:
  Walk(csh handle, const kvm_regs& regs, const SegmentBases& bases, const GuestVirtualRead& read)
      : handle_(handle), regs_(regs), bases_(bases), read_(read) {}

  uint32_t run() {
    cs_insn* insn = cs_malloc(handle_);
    if (insn == nullptr) return 0;
    uint64_t address = regs_.rip;
    for (int i = 0; i < MemoryDiscriminator::kMaxInstructions; ++i) {
      if (!decode(address, insn)) break;
      take_operands(*insn);
      auto next = next_address(*insn);
      note_writes(*insn);
      if (!next) break;
      address = *next;
    }
    cs_free(insn, 1);
    if (operands_ == 0) return 0;
    const uint64_t h = XXH3_64bits(bytes_.data(), bytes_.size());
    const auto folded = static_cast<uint32_t>(h ^ (h >> 32));
    return folded == 0 ? 1 : folded;
  }

 private:
  bool decode(uint64_t address, cs_insn* insn) {
    std::array<uint8_t, kMaxInstructionBytes> code{};
    // An instruction may end before a page that is not mapped: read what is there.
    const uint64_t to_page_end = kPageSize - (address % kPageSize);
    size_t available = code.size();
    if (!read_(address, {code.data(), available})) {
      available = std::min<uint64_t>(available, to_page_end);
      if (!read_(address, {code.data(), available})) return false;
    }
    const uint8_t* bytes = code.data();
    uint64_t at = address;
    return cs_disasm_iter(handle_, &bytes, &available, &at, insn);
  }

  // The value a register had at the stop point, if no instruction walked over has written it.
  std::optional<uint64_t> register_value(unsigned reg, uint64_t next_rip) const {
    if (reg == X86_REG_INVALID) return 0;
    if (reg == X86_REG_RIP) return next_rip;
    if (reg == X86_REG_EIP) return next_rip & 0xffffffffull;
    const auto part = gpr_part(reg);
    if (!part || written_[part->index]) return std::nullopt;
    return (regs_.*kGprs[part->index]) & part->mask;
  }

  std::optional<uint64_t> segment_base(unsigned segment) const {
    if (segment == X86_REG_FS) return bases_.fs;
    if (segment == X86_REG_GS) return bases_.gs;
    return 0;  // flat in long mode
  }

  std::optional<uint64_t> effective_address(const cs_insn& insn, const x86_op_mem& mem) const {
    const uint64_t next_rip = insn.address + insn.size;
    const auto base = register_value(mem.base, next_rip);
    const auto index = register_value(mem.index, next_rip);
    const auto segment = segment_base(mem.segment);
    if (!base || !index || !segment) return std::nullopt;
    uint64_t address =
        *base + *index * static_cast<uint64_t>(mem.scale) + static_cast<uint64_t>(mem.disp);
    if (insn.detail->x86.addr_size == 4) address &= 0xffffffffull;
    return *segment + address;
  }

  void take_operands(const cs_insn& insn) {
    // Their memory operands name an address but touch nothing there.
    if (insn.id == X86_INS_LEA || insn.id == X86_INS_NOP) return;
    const cs_x86& x86 = insn.detail->x86;
    for (uint8_t i = 0; i < x86.op_count; ++i) {
      const cs_x86_op& op = x86.operands[i];
      if (op.type != X86_OP_MEM) continue;
      if (auto address = effective_address(insn, op.mem)) take(*address, op.size);
    }
    // A pop or ret reads the stack without an explicit operand.
    if ((insn.id == X86_INS_POP || insn.id == X86_INS_RET) && !written_[kRspIndex]) {
      take(regs_.rsp, 8);
    }
  }

  void take(uint64_t address, size_t size) {
    if (operands_ >= MemoryDiscriminator::kMaxOperands) return;
    std::array<uint8_t, kMaxOperandBytes> value{};
    const size_t length = std::clamp<size_t>(size, 1, value.size());
    if (!read_(address, {value.data(), length})) return;
    ++operands_;
    const auto* a = reinterpret_cast<const uint8_t*>(&address);
    bytes_.insert(bytes_.end(), a, a + sizeof(address));
    bytes_.insert(bytes_.end(), value.begin(), value.begin() + static_cast<long>(length));
  }

  // Straight-line code and direct jumps only: past a branch the path depends on what executes.
  static std::optional<uint64_t> next_address(const cs_insn& insn) {
    const cs_detail& detail = *insn.detail;
    const bool direct_jmp = insn.id == X86_INS_JMP && detail.x86.op_count == 1 &&
                            detail.x86.operands[0].type == X86_OP_IMM;
    if (direct_jmp) return static_cast<uint64_t>(detail.x86.operands[0].imm);
    for (uint8_t i = 0; i < detail.groups_count; ++i) {
      switch (detail.groups[i]) {
        case CS_GRP_JUMP:
        case CS_GRP_CALL:
        case CS_GRP_RET:
        case CS_GRP_INT:
        case CS_GRP_IRET:
          return std::nullopt;
        default:
          break;
      }
    }
    return insn.address + insn.size;
  }

  void note_writes(const cs_insn& insn) {
    cs_regs read{};
    cs_regs write{};
    uint8_t read_count = 0;
    uint8_t write_count = 0;
    if (cs_regs_access(handle_, &insn, read, &read_count, write, &write_count) != CS_ERR_OK) {
      written_.set();  // cannot tell: trust no register from here on
      return;
    }
    for (uint8_t i = 0; i < write_count; ++i) {
      if (auto part = gpr_part(write[i])) written_.set(static_cast<size_t>(part->index));
    }
  }

  csh handle_;
  const kvm_regs& regs_;
  const SegmentBases& bases_;
  const GuestVirtualRead& read_;
  std::bitset<16> written_;
  int operands_ = 0;
  std::vector<uint8_t> bytes_;  // (address, value) of each operand read
};

// Guest-virtual reads through the vCPU's page tables, each page translated once per digest (a
// walk reads its code and most operands from one or two pages; on KVM a translation is an
// ioctl).
class GuestPages {
 public:
  GuestPages(const Vcpu& vcpu, const GuestMemory& memory) : vcpu_(vcpu), memory_(memory) {}

  bool read(uint64_t gva, std::span<uint8_t> out) {
    size_t done = 0;
    while (done < out.size()) {
      const uint64_t at = gva + done;
      const size_t chunk = std::min<uint64_t>(out.size() - done, kPageSize - (at % kPageSize));
      const auto page = page_gpa(at - (at % kPageSize));
      if (!page) return false;
      if (!memory_.read(*page + (at % kPageSize), out.subspan(done, chunk))) return false;
      done += chunk;
    }
    return true;
  }

 private:
  std::optional<uint64_t> page_gpa(uint64_t page) {
    for (const auto& [known, gpa] : known_) {
      if (known == page) return gpa;
    }
    auto gpa = vcpu_.translate(page);
    if (!gpa) return std::nullopt;
    known_.emplace_back(page, *gpa);
    return *gpa;
  }

  const Vcpu& vcpu_;
  const GuestMemory& memory_;
  std::vector<std::pair<uint64_t, uint64_t>> known_;  // page -> its guest-physical address
};

}  // namespace

MemoryDiscriminator::MemoryDiscriminator() {
  csh handle = 0;
  if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle) != CS_ERR_OK) return;
  if (cs_option(handle, CS_OPT_DETAIL, CS_OPT_ON) != CS_ERR_OK) {
    cs_close(&handle);
    return;
  }
  handle_ = handle;
}

MemoryDiscriminator::~MemoryDiscriminator() {
  if (handle_ == 0) return;
  csh handle = handle_;
  cs_close(&handle);
}

Result<uint32_t> MemoryDiscriminator::digest(const kvm_regs& regs, const SegmentBases& bases,
                                             const GuestVirtualRead& read) const {
  if (handle_ == 0) return make_error("Capstone could not open an x86-64 decoder with details");
  return Walk(handle_, regs, bases, read).run();
}

Result<uint32_t> MemoryDiscriminator::digest(const Vcpu& vcpu, const GuestMemory& memory,
                                             const kvm_regs& regs) const {
  auto sregs = vcpu.get_sregs();
  if (!sregs) return sregs.error();
  const SegmentBases bases{sregs->fs.base, sregs->gs.base};
  GuestPages pages(vcpu, memory);
  return digest(regs, bases,
                [&](uint64_t gva, std::span<uint8_t> out) { return pages.read(gva, out); });
}

}  // namespace ftvm::replay
