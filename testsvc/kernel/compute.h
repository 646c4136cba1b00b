// The compute thread: long exit-free stretches of pure register work whose progress at each
// interrupt is journaled (journal.h).
//
// It runs at CPL3 (sched::SpawnUser), so that on hosts whose KVM emulates CPL0 code (PVM) it
// still runs natively: millions of steps per tick, a realistic hot loop. It never calls the
// kernel (no system calls, no privileged instructions): its duty cycle (config.h) is enforced
// by the kernel from the timer interrupt (OnTick), and the `compute off|on` console commands
// stop and resume it (SetEnabled).
#pragma once

#include <stdint.h>

namespace testsvc::kernel::compute {

void Start();

// True when the running thread is the compute thread (from IRQ context: the one interrupted).
bool IsCurrent();

// Steps done so far: stored to memory after every step, so an interrupt sees exactly how far
// the thread got.
uint64_t Progress();

// Timer IRQ (interrupts disabled): ends a burst after kComputeBurstTicks by putting the thread
// to sleep for kComputeRestTicks; the next burst starts when it wakes.
void OnTick(uint64_t now);

// `compute off` / `compute on`: stops scheduling the thread (whether working or resting), or
// resumes it with a fresh burst. Idempotent. Called by a kernel thread.
void SetEnabled(bool enabled);
bool Enabled();

}  // namespace testsvc::kernel::compute
