// Threads and the preemptive round-robin scheduler (one CPU).
//
// A thread that is not running is fully described by the TrapFrame at the top of its saved
// stack (see isr.S): preempted by an IRQ or yielding through yield_trap, it was entered into
// isr_common either way, and resuming it is returning that frame from isr_dispatch.
//
// Kernel threads run at CPL0 on their own stack. A user thread (SpawnUser: the compute thread)
// runs at CPL3 on a user stack and also owns a kernel stack, empty while it runs: an interrupt
// from CPL3 makes the CPU switch to TSS.RSP0, which the scheduler points at the kernel stack
// top of every thread it resumes, so the user thread's TrapFrame (a CPL3 frame: user CS, SS
// and RSP) lands on its own kernel stack like any other thread's. Resuming it is the same
// IRETQ, which goes back to CPL3. A user thread never calls the kernel: it cannot block or
// sleep by itself; the kernel stops and resumes it (SleepThreadUntil, Stop, Resume).
//
// Policy: the timer ends the running thread's slice at every tick; threads that can run take
// turns in creation order; the idle thread (the boot context) runs only when no other can.
// A thread woken by an IRQ runs as soon as that IRQ's handler returns.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernel/trap_frame.h"

namespace testsvc::kernel::sched {

// kBlocked: until Wake (or the tick block_deadline, if not 0); kSleeping: until the tick
// wake_tick; kStopped: until Resume.
enum class ThreadState : uint8_t { kRunnable, kBlocked, kSleeping, kStopped };

struct Thread {
  const char* name = nullptr;
  ThreadState state = ThreadState::kRunnable;
  TrapFrame* frame = nullptr;  // saved context; meaningless while running
  uintptr_t stack_bottom = 0;  // lowest byte; holds a canary checked at every switch
  uintptr_t stack_top = 0;
  uint64_t wake_tick = 0;       // kSleeping: when to become runnable
  uint64_t block_deadline = 0;  // kBlocked by BlockUntil: when to become runnable anyway
  void (*entry)() = nullptr;
  // User threads only (0 otherwise): their CPL3 stack, also with a canary at the bottom.
  uintptr_t user_stack_bottom = 0;
  uintptr_t user_stack_top = 0;
};

struct StackBounds {
  uintptr_t bottom = 0;  // 0 if unknown
  uintptr_t top = 0;
};

// Adopts the running boot context (kmain on the boot stack of entry.S) as the idle thread.
void Init();

// Creates a runnable thread running `entry` (which must not return) with interrupts enabled.
Thread* Spawn(const char* name, void (*entry)());

// Creates a runnable user thread: `entry` (which must not return) runs at CPL3 with interrupts
// enabled and IOPL 0, on the stack [stack, stack + stack_bytes) (16-byte aligned), and may only
// use user-accessible memory and unprivileged instructions (no port I/O, HLT, CLI/STI, INT n).
Thread* SpawnUser(const char* name, void (*entry)(), uint8_t* stack, size_t stack_bytes);

// The running thread (nullptr before Init).
Thread* Current();

// Gives up the CPU; the caller stays runnable.
void Yield();

// Stops the calling thread until some Wake(it). Interrupts must be disabled, which makes
// "check the condition, then block" atomic; they are disabled again on return. Typical use:
//   IrqGuard guard;
//   while (!condition) { register as the waiter; sched::Block(); }
void Block();

// Block, but also ends at the tick `tick` if no Wake came first (a thread that waits for an
// IRQ and a timer at once: the net thread). Interrupts must be disabled.
void BlockUntil(uint64_t tick);

// Makes a blocked thread runnable. Interrupts must be disabled.
void Wake(Thread* thread);

// Sleeps until pit::Ticks() >= tick.
void SleepUntil(uint64_t tick);

// The kernel puts a runnable `thread` (possibly the one an IRQ interrupted; never idle) to
// sleep until pit::Ticks() >= tick. Interrupts must be disabled.
void SleepThreadUntil(Thread* thread, uint64_t tick);

// Stops scheduling `thread` whatever its state, until Resume: from a thread, another thread;
// from an IRQ handler, also the interrupted one; never idle. Interrupts must be disabled.
// Meant for user threads, which hold no kernel resources.
void Stop(Thread* thread);

// Makes a stopped thread runnable. Interrupts must be disabled.
void Resume(Thread* thread);

// Timer IRQ: wakes sleepers (and BlockUntil waiters) whose time has come and ends the current
// time slice.
void OnTick(uint64_t now);

// End of an IRQ: the frame to resume (another thread's if a switch is due).
TrapFrame* OnInterruptExit(TrapFrame* frame);

// yield_trap (TrapFrame vector kYieldVector): the frame of the next thread to run.
TrapFrame* OnYield(TrapFrame* frame);

uint64_t ContextSwitches();

// The stack (thread or boot) that contains `address`, for crash backtraces.
StackBounds StackContaining(uintptr_t address);

}  // namespace testsvc::kernel::sched
