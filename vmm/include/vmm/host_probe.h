// Measures, with a tiny built-in guest (vmm/probe/host_probe.S), what this host's KVM does with
// guest debugging and how fast it runs guest kernel and user code, instead of assuming one
// host's quirks: kvm_pvm reports breakpoints and steps only for CPL0 code, emulates that code at
// ~1M instructions/s, runs CPL3 code natively and takes the interrupt-window exit where its
// emulation batch ends; Debian 12's QEMU, nesting kvm_amd, reports no breakpoints at all but
// takes the window exit exactly; other hosts report both at every CPL at full speed. Record/
// replay, `ftvm host-info` and the tests that need breakpoints read it.
#pragma once

#include <string>

#include "vmm/result.h"

namespace ftvm {

struct GuestDebugFacts {
  // An execution breakpoint in DR0 is reported (KVM_EXIT_DEBUG) before the instruction runs.
  bool breakpoint_cpl0 = false;
  // KVM_GUESTDBG_SINGLESTEP reports after one instruction.
  bool single_step_cpl0 = false;
  // Resumed with RFLAGS.RF set, the guest goes past the breakpoint it stopped at, which stays
  // armed, without reporting it again (measured only where the breakpoint was reported).
  bool resume_flag_cpl0 = false;
  // A two-instruction loop's speed, less what one VM exit and entry cost beside it.
  double cpl0_instructions_per_second = 0;
  // Asked for with IF=0, the interrupt-window exit comes exactly where the window opens: right
  // after the STI shadow, before the next instruction. Only then is it a reproducible position
  // that record and replay may deliver interrupts at.
  bool interrupt_window_cpl0 = false;
  // The same in guest user code.
  bool breakpoint_cpl3 = false;
  bool single_step_cpl3 = false;
  bool resume_flag_cpl3 = false;
  double cpl3_instructions_per_second = 0;
  bool interrupt_window_cpl3 = false;
  // What differed from the expected behaviour, for reports; empty when nothing did.
  std::string notes;
};

Result<GuestDebugFacts> probe_guest_debug(const std::string& kvm_device = "/dev/kvm");

}  // namespace ftvm
