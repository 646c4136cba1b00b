// The compute thread: long exit-free stretches of pure register work whose progress at each
// interrupt is journaled (journal.h). See config.h for its duty cycle.
#pragma once

#include <stdint.h>

namespace testsvc::kernel::compute {

void Start();

// True when the running thread is the compute thread (from IRQ context: the one interrupted).
bool IsCurrent();

// Steps done so far: incremented in memory after every step, so an interrupt sees exactly
// how far the thread got.
uint64_t Progress();

}  // namespace testsvc::kernel::compute
