// Tunables of the testsvc kernel that the host does not need to know (those are in
// testsvc/abi.h). Changing any of them changes the guest's behaviour, so recorded traces made
// with an older image will not replay against a newer one.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernel/asm_defs.h"

namespace testsvc::kernel {

// Stack of each thread other than idle (idle runs on the boot stack of entry.S).
inline constexpr size_t kThreadStackBytes = 16 * 1024;
// Stacks for #DF and NMI/#MC (TSS IST1, IST2), so a stack overflow still gets reported.
inline constexpr size_t kIstStackBytes = 8 * 1024;

// The vector number of the TrapFrame that yield_trap (isr.S) builds when a thread gives up the
// CPU: outside the exception and PIC ranges, so isr_dispatch can tell it apart.
inline constexpr uint8_t kYieldVector = TESTSVC_YIELD_VECTOR;

// The compute thread works for kComputeBurstTicks, then sleeps kComputeRestTicks so the guest
// also spends time in HLT: a replay sees both long exit-free stretches (asynchronous event
// landmarks) and idle periods (synchronous ones at HLT exits). The kernel enforces this cycle
// from the timer interrupt (compute.h): the thread itself runs at CPL3 and never looks at time.
inline constexpr uint64_t kComputeBurstTicks = 40;
inline constexpr uint64_t kComputeRestTicks = 10;
// Steps between two stores of the compute state (which keep the work from being optimized
// away; the progress counter is stored after every step).
inline constexpr uint32_t kComputeBatch = 256;
// The compute thread's user-mode stack (it hardly uses any: it calls nothing).
inline constexpr size_t kComputeUserStackBytes = 4 * 1024;
inline constexpr uint64_t kComputeSeed = 0x9e3779b97f4a7c15ull;

// Entries kept of the preemption journal (older ones are overwritten; the digest covers all).
inline constexpr size_t kJournalCapacity = 1024;

// UART receive ring between the IRQ handler and the service thread.
inline constexpr size_t kRxRingBytes = 1024;
// Longest command line kept; longer ones are truncated (and the user is told so).
inline constexpr size_t kMaxCommandBytes = 120;
// Longest console line produced (longer ones are cut, never split across writers).
inline constexpr size_t kMaxOutputLineBytes = 256;

// Exit statuses written to abi::kShutdownPort.
inline constexpr uint32_t kExitOk = 0;
inline constexpr uint32_t kExitPanic = 1;             // kernel invariant broken (message printed)
inline constexpr uint32_t kExitBadBootInfo = 2;       // BootInfo missing, wrong magic/version/size
inline constexpr uint32_t kExitExceptionBase = 0x80;  // + vector, for CPU exceptions 0..31

}  // namespace testsvc::kernel
