// What the runner, recorder, replayer and state capture need from a vCPU, whichever backend
// executes it: KVM (kvm.h) or the software CPU (emu_vcpu.h).
//
// The exit path stays one switch: every backend reports why it stopped in the same kvm_run
// record KVM fills (exit_reason, io, mmio, if_flag, ready_for_interrupt_injection), and takes
// back the data a read asked for the same way, so ExitHandler and the devices never know which
// backend ran the guest. State goes in and out in KVM's structures for the same reason.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vmm/result.h"

namespace ftvm {

// What a backend offers for vCPU state beyond the basic registers, found once per VM.
struct VcpuStateSupport {
  // Bytes of the XSAVE area (at least 4096), or 0 without XSAVE (a host CPU without it, or a
  // backend that does not expose it).
  uint32_t xsave_bytes = 0;
  // The MSRs get_msrs/set_msrs accept, sorted.
  std::vector<uint32_t> msr_indices;
  // The GPRs are in the run page after each exit (Vcpu::sync_registers_on_exit).
  bool sync_regs = false;
};

enum class Accel { kKvm, kEmu };

const char* accel_name(Accel accel);

class Vcpu {
 public:
  virtual ~Vcpu() = default;

  virtual Accel accel() const = 0;

  // The exit record: filled by run(), read and answered (PIO/MMIO read data) by ExitHandler.
  virtual kvm_run* run_page() const = 0;
  virtual size_t run_page_bytes() const = 0;

  // Runs the guest until the next exit. Returns 0, or an errno: EINTR when a kick ended the run
  // (an asynchronous exit), anything else when the backend failed.
  virtual int run() = 0;
  // Completes what the last exit left pending (a port or MMIO read's value, the instruction of
  // a port or MMIO write), as KVM_RUN with immediate_exit does, and rewrites the run page's
  // interrupt fields (if_flag, ready_for_interrupt_injection) for the current state, without
  // running the guest further: needed before a state is captured at an exit, and after one
  // was loaded.
  virtual Result<void> refresh_run_page() = 0;
  // When the last run() ended in a fault (an internal-error exit), what the backend knows about
  // it beyond the exit record; empty when it has nothing to add.
  virtual std::string failure_detail() const { return {}; }

  // Asks the backend to keep the GPRs in the run page at every exit, so a driver that reads
  // them after each of many exits saves a call per exit. False where it cannot.
  virtual bool sync_registers_on_exit() = 0;
  // The GPRs as of the last exit; only after sync_registers_on_exit() returned true, and only
  // until something else changes them.
  const kvm_regs& registers_at_exit() const { return run_page()->s.regs.regs; }

  virtual Result<kvm_regs> get_regs() const = 0;
  virtual Result<void> set_regs(const kvm_regs& regs) = 0;
  virtual Result<kvm_sregs> get_sregs() const = 0;
  virtual Result<void> set_sregs(const kvm_sregs& sregs) = 0;
  virtual Result<kvm_fpu> get_fpu() const = 0;
  virtual Result<void> set_fpu(const kvm_fpu& fpu) = 0;
  virtual Result<kvm_vcpu_events> get_events() const = 0;
  virtual Result<void> set_events(const kvm_vcpu_events& events) = 0;

  virtual const VcpuStateSupport& state_support() const = 0;
  // The XSAVE area, state_support().xsave_bytes long.
  virtual Result<std::vector<uint8_t>> get_xsave() const = 0;
  // Takes an area of any size: a shorter one is zero-extended (absent components stay in their
  // initial state), a longer one is refused unless the excess is zero.
  virtual Result<void> set_xsave(std::span<const uint8_t> area) = 0;
  virtual Result<kvm_xcrs> get_xcrs() const = 0;
  virtual Result<void> set_xcrs(const kvm_xcrs& xcrs) = 0;
  virtual Result<kvm_debugregs> get_debugregs() const = 0;
  virtual Result<void> set_debugregs(const kvm_debugregs& debugregs) = 0;
  // Reads the MSRs named by `indices` (all must be in state_support().msr_indices).
  virtual Result<std::vector<kvm_msr_entry>> get_msrs(std::span<const uint32_t> indices) const = 0;
  // Writes all of `entries`, or says which one was refused.
  virtual Result<void> set_msrs(std::span<const kvm_msr_entry> entries) = 0;
  // Delivers an external interrupt vector; only when the run page says the guest can take one.
  virtual Result<void> interrupt(uint8_t vector) = 0;
  // Guest-virtual to guest-physical through the guest's current page tables.
  virtual Result<uint64_t> translate(uint64_t gva) const = 0;
  // Hardware breakpoints and single-step (KVM_SET_GUEST_DEBUG's structure).
  virtual Result<void> set_guest_debug(const kvm_guest_debug& debug) = 0;

  // Exact positions, where the backend counts instructions (the software CPU; KVM on a host
  // without a PMU cannot): the instructions completed since the vCPU was created, a rep
  // iteration counting one. nullopt where the backend does not count.
  virtual std::optional<uint64_t> instructions_retired() const { return std::nullopt; }
  // Makes run() return a KVM_EXIT_DEBUG exit right before the instruction that would make
  // instructions_retired() exceed `retired`: where a counted landmark lies. Once reached (or
  // replaced by another call) it is gone.
  virtual Result<void> stop_at_instruction(uint64_t retired) {
    (void)retired;
    return make_error("this vCPU backend does not count instructions");
  }
};

}  // namespace ftvm
