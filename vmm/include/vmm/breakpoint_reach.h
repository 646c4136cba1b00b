// Where hardware breakpoints can stand for an asynchronous landmark on this backend: the host
// probe's measurement (host_probe.h) turned into what the recorder may rely on. kvm_pvm reports
// breakpoints only in guest kernel code, nested kvm_amd under Debian 12's QEMU reports none, and
// other hosts report them at every privilege level; the software CPU emulates them everywhere.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "vmm/host_probe.h"
#include "vmm/vcpu.h"

namespace ftvm {

struct BreakpointReach {
  bool cpl0 = false;
  bool cpl3 = false;
  bool measured = false;  // false: the probe failed and cpl0 is the old assumption (true)
  bool operator==(const BreakpointReach&) const = default;
};

// `facts` is the host probe's result on KVM (nullopt where it failed); unused on the software
// CPU.
BreakpointReach breakpoint_reach(Accel accel, const std::optional<GuestDebugFacts>& facts);

// Where the replayer's breakpoint search may go past a hit that was not its landmark by
// resuming with RFLAGS.RF set (one exit per hit) instead of a single step with the breakpoint
// off and then re-armed (two): where the probe saw RF work, and everywhere on the software CPU.
// Nowhere where the probe failed.
BreakpointReach resume_flag_reach(Accel accel, const std::optional<GuestDebugFacts>& facts);

// The least time a loop can take to come round in guest kernel and user code: two instructions
// at the speed the host probe measured (zero where it did not measure). A breakpoint probe's
// period is timed in host time, around an exit and entry that can cost more than the loop
// (kvm_pvm: a loop of a few microseconds at CPL0); below what that timing resolves it is taken
// as this floor, not as zero, which would estimate a search of millions of hits where there are
// hundreds.
struct ShortestLoop {
  std::chrono::nanoseconds cpl0{0};
  std::chrono::nanoseconds cpl3{0};
};
ShortestLoop shortest_loop(Accel accel, const std::optional<GuestDebugFacts>& facts);

// One line for users: where this host's breakpoints reach, and what `--async auto` therefore
// does at each privilege level.
std::string describe_breakpoint_reach(const BreakpointReach& reach);

}  // namespace ftvm
