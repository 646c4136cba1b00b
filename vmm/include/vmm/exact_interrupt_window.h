// Whether record and replay may deliver an interrupt the guest cannot take at once (IF=0, an
// interrupt shadow) at KVM's interrupt-window exit. Only where that exit comes exactly where the
// window opens is it a position both sides reach alike: kvm_pvm takes it where its emulation
// batch ends, so there an interrupt waits for the next exit or a logged InterruptWindow entry
// instead; nested kvm_amd and the software CPU take it exactly.
#pragma once

#include <optional>
#include <string>

#include "vmm/host_probe.h"
#include "vmm/vcpu.h"

namespace ftvm {

// `facts` is the host probe's result on KVM (nullopt where it failed: then no); unused on the
// software CPU, which stops at the first instruction boundary where the window is open.
bool exact_interrupt_window(Accel accel, const std::optional<GuestDebugFacts>& facts);

// One line for users: whether record and replay use the window on this host, and why.
std::string describe_interrupt_window(Accel accel, const std::optional<GuestDebugFacts>& facts);

}  // namespace ftvm
