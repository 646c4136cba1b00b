#include "vmm/crash_report.h"

#include <capstone/capstone.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace ftvm {

namespace {

// Where x86 starts after a reset, which is where a vCPU that the host reset sits.
constexpr uint16_t kResetCodeSelector = 0xf000;
constexpr uint64_t kResetRip = 0xfff0;

std::string describe_general_registers(const kvm_regs& r) {
  std::string out;
  out += fmt::format("  rip={:016x} rflags={:016x} rsp={:016x} rbp={:016x}\n", r.rip, r.rflags,
                     r.rsp, r.rbp);
  out += fmt::format("  rax={:016x} rbx={:016x} rcx={:016x} rdx={:016x}\n", r.rax, r.rbx, r.rcx,
                     r.rdx);
  out +=
      fmt::format("  rsi={:016x} rdi={:016x} r8 ={:016x} r9 ={:016x}\n", r.rsi, r.rdi, r.r8, r.r9);
  out += fmt::format("  r10={:016x} r11={:016x} r12={:016x} r13={:016x}\n", r.r10, r.r11, r.r12,
                     r.r13);
  out += fmt::format("  r14={:016x} r15={:016x}\n", r.r14, r.r15);
  return out;
}

}  // namespace

std::string describe_registers(const kvm_regs& r, const kvm_sregs& s) {
  std::string out = describe_general_registers(r);
  out += fmt::format("  cr0={:016x} cr2={:016x} cr3={:016x} cr4={:016x} efer={:x}\n", s.cr0, s.cr2,
                     s.cr3, s.cr4, s.efer);
  out += fmt::format("  cs={:04x} ss={:04x} idt={:x}/{:x} gdt={:x}/{:x}\n", s.cs.selector,
                     s.ss.selector, s.idt.base, s.idt.limit, s.gdt.base, s.gdt.limit);
  return out;
}

std::string disassemble_at(const Vcpu& vcpu, const GuestMemory& memory, uint64_t rip,
                           int max_instructions) {
  auto gpa = vcpu.translate(rip);
  if (!gpa) return fmt::format("  <rip {:#x}: {}>\n", rip, gpa.error().message);
  std::array<uint8_t, 64> code{};
  if (*gpa >= memory.size())
    return fmt::format("  <rip {:#x} -> gpa {:#x} is not RAM>\n", rip, *gpa);
  const size_t available = std::min<uint64_t>(code.size(), memory.size() - *gpa);
  if (auto r = memory.read(*gpa, {code.data(), available}); !r) return r.error().message;

  csh handle;
  if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle) != CS_ERR_OK) return "  <capstone unavailable>\n";
  cs_insn* insns = nullptr;
  const size_t count =
      cs_disasm(handle, code.data(), available, rip, static_cast<size_t>(max_instructions), &insns);
  std::string out;
  for (size_t i = 0; i < count; ++i) {
    out += fmt::format("  {}{:016x}: {} {}\n", i == 0 ? "=> " : "   ", insns[i].address,
                       insns[i].mnemonic, insns[i].op_str);
  }
  if (count == 0) out = fmt::format("  <cannot decode the bytes at {:#x}>\n", rip);
  cs_free(insns, count);
  cs_close(&handle);
  return out;
}

std::string crash_report(const Vcpu& vcpu, const GuestMemory& memory,
                         const std::optional<RegistersSeen>& last_seen) {
  auto regs = vcpu.get_regs();
  auto sregs = vcpu.get_sregs();
  if (!regs || !sregs) return "  <cannot read vCPU registers>\n";
  const bool reset = sregs->cs.selector == kResetCodeSelector && regs->rip == kResetRip;
  if (!reset || !last_seen) {
    return "registers:\n" + describe_registers(*regs, *sregs) + "code at rip:\n" +
           disassemble_at(vcpu, memory, regs->rip);
  }
  const std::string when =
      last_seen->exit_count == 0
          ? std::string("at boot, before the first exit")
          : fmt::format("when KVM_RUN last returned (E={})", last_seen->exit_count);
  return fmt::format(
             "the host reset the vCPU (it is at the reset vector, cs={:04x} rip={:x}): this "
             "host's KVM (kvm_amd does) resets a vCPU whose guest triple-faulted, so the state at "
             "the fault is lost. The last state ftvm saw, {}:\n",
             kResetCodeSelector, kResetRip, when) +
         "registers " + when + ":\n" + describe_general_registers(last_seen->regs) +
         "code there (the fault came at or after it):\n" +
         disassemble_at(vcpu, memory, last_seen->regs.rip);
}

}  // namespace ftvm
