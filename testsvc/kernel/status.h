// The status printer thread: every abi::kStatusEveryTicks ticks it prints
//   status tick=<n> progress=<n> journal=<n> digest=<16 hex>
// with the values as they were in the timer interrupt of that tick (a snapshot taken by
// OnTick), so the line does not depend on how long the printer waited for the CPU.
#pragma once

#include <stdint.h>

namespace testsvc::kernel::status {

void Start();

// Timer IRQ, after the tick's journal entry: on every kStatusEveryTicks-th tick, snapshots
// the counters and wakes the printer.
void OnTick(uint64_t tick);

// Status lines not printed because the printer was still busy with the previous one.
uint64_t Missed();

}  // namespace testsvc::kernel::status
