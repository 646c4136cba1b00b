// The CPUID a guest sees. Anything that would let the guest observe host time, host
// randomness or other nondeterminism that KVM cannot trap is hidden here: RDRAND/RDSEED,
// RDTSCP/RDPID, TSX (aborts are nondeterministic), WAITPKG/MONITOR (timed waits), the local
// APIC/x2APIC and TSC-deadline timer (we have no in-kernel irqchip), the KVM paravirt leaves
// (kvmclock), and the power/thermal/perfmon/TSC-frequency leaves.
#pragma once

#include <linux/kvm.h>

#include <vector>

namespace ftvm {

std::vector<kvm_cpuid_entry2> filter_cpuid(std::vector<kvm_cpuid_entry2> supported);

}  // namespace ftvm
