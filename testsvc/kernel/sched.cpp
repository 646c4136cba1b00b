#include "kernel/sched.h"

#include "kernel/config.h"
#include "kernel/cpu.h"
#include "kernel/gdt.h"
#include "kernel/panic.h"
#include "kernel/pit.h"

extern "C" uint8_t boot_stack_bottom[];  // entry.S
extern "C" uint8_t boot_stack_top[];
extern "C" void yield_trap();  // isr.S

namespace testsvc::kernel::sched {
namespace {

constexpr size_t kMaxThreads = 8;
constexpr uint64_t kStackCanary = 0x5a5a57ac4ca9a75aull;
constexpr uint64_t kInitialRflags = 0x202;  // IF = 1, IOPL = 0, reserved bit 1

constinit Thread g_threads[kMaxThreads] = {};
constinit size_t g_thread_count = 0;
constinit Thread* g_current = nullptr;
constinit bool g_need_resched = false;
constinit uint64_t g_context_switches = 0;
alignas(16) constinit uint8_t g_stacks[kMaxThreads - 1][kThreadStackBytes] = {};

Thread& Idle() {
  return g_threads[0];
}

void SetCanary(Thread& thread) {
  *reinterpret_cast<uint64_t*>(thread.stack_bottom) = kStackCanary;
}

void CheckCanary(const Thread& thread) {
  if (*reinterpret_cast<const uint64_t*>(thread.stack_bottom) != kStackCanary) {
    Panic("sched: stack overflow");
  }
  if (thread.user_stack_bottom != 0 &&
      *reinterpret_cast<const uint64_t*>(thread.user_stack_bottom) != kStackCanary) {
    Panic("sched: user stack overflow");
  }
}

// Where a new thread starts: the synthetic frame built by Spawn "returns" here.
[[noreturn]] void ThreadStart(Thread* thread) {
  thread->entry();
  Panic("sched: thread entry returned");
}

// Round robin: the first runnable thread after `from` in creation order, idle excluded;
// `from` itself if it is the only one still runnable; idle if none is.
Thread* PickNext(const Thread* from) {
  const size_t start = static_cast<size_t>(from - g_threads);
  for (size_t i = 1; i <= g_thread_count; ++i) {
    Thread& candidate = g_threads[(start + i) % g_thread_count];
    if (&candidate != &Idle() && candidate.state == ThreadState::kRunnable) return &candidate;
  }
  return &Idle();
}

TrapFrame* SwitchFrom(TrapFrame* frame) {
  Thread* previous = g_current;
  previous->frame = frame;
  CheckCanary(*previous);
  g_need_resched = false;
  Thread* next = PickNext(previous);
  if (next != previous) ++g_context_switches;
  g_current = next;
  // Where the CPU puts the next interrupt's frame if `next` is at CPL3 then (its kernel stack
  // is empty while it runs in user mode). Harmless for kernel threads: no privilege change.
  gdt::SetKernelStack(next->stack_top);
  return next->frame;
}

// Takes the next free slot and its kernel stack; the thread is not yet counted (runnable).
Thread& AllocateThread(const char* name, void (*entry)()) {
  if (g_thread_count == kMaxThreads) Panic("sched: too many threads");
  Thread& thread = g_threads[g_thread_count];
  uint8_t* stack = g_stacks[g_thread_count - 1];
  thread.name = name;
  thread.entry = entry;
  thread.stack_bottom = reinterpret_cast<uintptr_t>(stack);
  thread.stack_top = thread.stack_bottom + kThreadStackBytes;
  SetCanary(thread);
  return thread;
}

// The stack pointer a function entered as if by a call expects (RSP = 8 mod 16), with a zero
// return address (which ends backtraces) at `stack_top` - 8.
uintptr_t EntryRsp(uintptr_t stack_top) {
  const uintptr_t entry_rsp = (stack_top & ~uintptr_t{15}) - 8;
  *reinterpret_cast<uint64_t*>(entry_rsp) = 0;
  return entry_rsp;
}

// The synthetic frame whose IRETQ starts the thread, at the top of its kernel stack (below
// `below`).
TrapFrame* InitialFrame(uintptr_t below) {
  auto* frame = reinterpret_cast<TrapFrame*>((below - sizeof(TrapFrame)) & ~uintptr_t{15});
  *frame = TrapFrame{};
  frame->rflags = kInitialRflags;
  return frame;
}

Thread* MakeRunnable(Thread& thread) {
  IrqGuard guard;
  thread.state = ThreadState::kRunnable;
  ++g_thread_count;
  return &thread;
}

}  // namespace

void Init() {
  Thread& idle = g_threads[0];
  idle.name = "idle";
  idle.state = ThreadState::kRunnable;
  idle.stack_bottom = reinterpret_cast<uintptr_t>(boot_stack_bottom);
  idle.stack_top = reinterpret_cast<uintptr_t>(boot_stack_top);
  SetCanary(idle);
  g_thread_count = 1;
  g_current = &idle;
  gdt::SetKernelStack(idle.stack_top);
}

Thread* Spawn(const char* name, void (*entry)()) {
  Thread& thread = AllocateThread(name, entry);
  // The first run "returns" from an interrupt into ThreadStart(thread) with RSP as if
  // ThreadStart had been called.
  const uintptr_t entry_rsp = EntryRsp(thread.stack_top);
  TrapFrame* frame = InitialFrame(entry_rsp);
  frame->rdi = reinterpret_cast<uint64_t>(&thread);
  frame->rip = reinterpret_cast<uint64_t>(&ThreadStart);
  frame->cs = gdt::kCodeSelector;
  frame->rsp = entry_rsp;
  frame->ss = gdt::kDataSelector;
  thread.frame = frame;
  return MakeRunnable(thread);
}

Thread* SpawnUser(const char* name, void (*entry)(), uint8_t* stack, size_t stack_bytes) {
  Thread& thread = AllocateThread(name, entry);
  thread.user_stack_bottom = reinterpret_cast<uintptr_t>(stack);
  thread.user_stack_top = thread.user_stack_bottom + stack_bytes;
  *reinterpret_cast<uint64_t*>(thread.user_stack_bottom) = kStackCanary;
  // The first run is an IRETQ from the top of its kernel stack to CPL3, straight into `entry`
  // as if it had been called on the user stack (the zero return address only ends
  // backtraces: `entry` must never return).
  const uintptr_t entry_rsp = EntryRsp(thread.user_stack_top);
  TrapFrame* frame = InitialFrame(thread.stack_top);
  frame->rip = reinterpret_cast<uint64_t>(entry);
  frame->cs = gdt::kUserCodeSelector;
  frame->rsp = entry_rsp;
  frame->ss = gdt::kUserDataSelector;
  thread.frame = frame;
  return MakeRunnable(thread);
}

Thread* Current() {
  return g_current;
}

void Yield() {
  yield_trap();
}

void Block() {
  if (InterruptsEnabled()) Panic("sched: Block with interrupts enabled");
  if (g_current == &Idle()) Panic("sched: the idle thread cannot block");
  g_current->block_deadline = 0;
  g_current->state = ThreadState::kBlocked;
  Yield();
}

void BlockUntil(uint64_t tick) {
  if (InterruptsEnabled()) Panic("sched: BlockUntil with interrupts enabled");
  if (g_current == &Idle()) Panic("sched: the idle thread cannot block");
  // A deadline of 0 would mean none: the tick has passed anyway, nothing to wait for.
  if (tick == 0 || pit::Ticks() >= tick) return;
  g_current->block_deadline = tick;
  g_current->state = ThreadState::kBlocked;
  Yield();
  g_current->block_deadline = 0;
}

void Wake(Thread* thread) {
  if (thread->state != ThreadState::kBlocked) return;
  thread->state = ThreadState::kRunnable;
  if (thread != g_current) g_need_resched = true;
}

void SleepUntil(uint64_t tick) {
  IrqGuard guard;
  if (g_current == &Idle()) Panic("sched: the idle thread cannot sleep");
  while (pit::Ticks() < tick) {
    g_current->wake_tick = tick;
    g_current->state = ThreadState::kSleeping;
    Yield();
  }
}

void SleepThreadUntil(Thread* thread, uint64_t tick) {
  if (InterruptsEnabled()) Panic("sched: SleepThreadUntil with interrupts enabled");
  if (thread == &Idle()) Panic("sched: the idle thread cannot sleep");
  if (thread->state != ThreadState::kRunnable) return;
  thread->wake_tick = tick;
  thread->state = ThreadState::kSleeping;
  if (thread == g_current) g_need_resched = true;
}

void Stop(Thread* thread) {
  if (InterruptsEnabled()) Panic("sched: Stop with interrupts enabled");
  if (thread == &Idle()) Panic("sched: the idle thread cannot stop");
  thread->state = ThreadState::kStopped;
  if (thread == g_current) g_need_resched = true;
}

void Resume(Thread* thread) {
  if (InterruptsEnabled()) Panic("sched: Resume with interrupts enabled");
  if (thread->state != ThreadState::kStopped) return;
  thread->state = ThreadState::kRunnable;
  g_need_resched = true;
}

void OnTick(uint64_t now) {
  for (size_t i = 0; i < g_thread_count; ++i) {
    Thread& thread = g_threads[i];
    const bool slept = thread.state == ThreadState::kSleeping && now >= thread.wake_tick;
    const bool timed_out = thread.state == ThreadState::kBlocked && thread.block_deadline != 0 &&
                           now >= thread.block_deadline;
    if (slept || timed_out) thread.state = ThreadState::kRunnable;
  }
  g_need_resched = true;
}

TrapFrame* OnInterruptExit(TrapFrame* frame) {
  if (!g_need_resched || g_current == nullptr) return frame;
  return SwitchFrom(frame);
}

TrapFrame* OnYield(TrapFrame* frame) {
  if (g_current == nullptr) Panic("sched: yield before Init");
  return SwitchFrom(frame);
}

uint64_t ContextSwitches() {
  IrqGuard guard;
  return g_context_switches;
}

StackBounds StackContaining(uintptr_t address) {
  for (size_t i = 0; i < g_thread_count; ++i) {
    const Thread& thread = g_threads[i];
    if (address >= thread.stack_bottom && address < thread.stack_top) {
      return {thread.stack_bottom, thread.stack_top};
    }
    if (address >= thread.user_stack_bottom && address < thread.user_stack_top) {
      return {thread.user_stack_bottom, thread.user_stack_top};
    }
  }
  const auto boot_bottom = reinterpret_cast<uintptr_t>(boot_stack_bottom);
  const auto boot_top = reinterpret_cast<uintptr_t>(boot_stack_top);
  if (address >= boot_bottom && address < boot_top) return {boot_bottom, boot_top};
  return {};
}

}  // namespace testsvc::kernel::sched
