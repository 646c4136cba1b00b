// Threads and the preemptive round-robin scheduler (one CPU).
//
// A thread that is not running is fully described by the TrapFrame at the top of its saved
// stack (see isr.S): preempted by an IRQ or yielding through yield_trap, it was entered into
// isr_common either way, and resuming it is returning that frame from isr_dispatch.
//
// Policy: the timer ends the running thread's slice at every tick; threads that can run take
// turns in creation order; the idle thread (the boot context) runs only when no other can.
// A thread woken by an IRQ runs as soon as that IRQ's handler returns.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernel/trap_frame.h"

namespace testsvc::kernel::sched {

enum class ThreadState : uint8_t { kRunnable, kBlocked, kSleeping };

struct Thread {
  const char* name = nullptr;
  ThreadState state = ThreadState::kRunnable;
  TrapFrame* frame = nullptr;  // saved context; meaningless while running
  uintptr_t stack_bottom = 0;  // lowest byte; holds a canary checked at every switch
  uintptr_t stack_top = 0;
  uint64_t wake_tick = 0;  // kSleeping: when to become runnable
  void (*entry)() = nullptr;
};

struct StackBounds {
  uintptr_t bottom = 0;  // 0 if unknown
  uintptr_t top = 0;
};

// Adopts the running boot context (kmain on the boot stack of entry.S) as the idle thread.
void Init();

// Creates a runnable thread running `entry` (which must not return) with interrupts enabled.
Thread* Spawn(const char* name, void (*entry)());

// The running thread (nullptr before Init).
Thread* Current();

// Gives up the CPU; the caller stays runnable.
void Yield();

// Stops the calling thread until some Wake(it). Interrupts must be disabled, which makes
// "check the condition, then block" atomic; they are disabled again on return. Typical use:
//   IrqGuard guard;
//   while (!condition) { register as the waiter; sched::Block(); }
void Block();

// Makes a blocked thread runnable. Interrupts must be disabled.
void Wake(Thread* thread);

// Sleeps until pit::Ticks() >= tick.
void SleepUntil(uint64_t tick);

// Timer IRQ: wakes sleepers whose time has come and ends the current time slice.
void OnTick(uint64_t now);

// End of an IRQ: the frame to resume (another thread's if a switch is due).
TrapFrame* OnInterruptExit(TrapFrame* frame);

// yield_trap (TrapFrame vector kYieldVector): the frame of the next thread to run.
TrapFrame* OnYield(TrapFrame* frame);

uint64_t ContextSwitches();

// The stack (thread or boot) that contains `address`, for crash backtraces.
StackBounds StackContaining(uintptr_t address);

}  // namespace testsvc::kernel::sched
