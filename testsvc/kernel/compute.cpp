#include "kernel/compute.h"

#include "kernel/compute_step.h"
#include "kernel/config.h"
#include "kernel/cpu.h"
#include "kernel/pit.h"
#include "kernel/sched.h"

namespace testsvc::kernel::compute {
namespace {

// Kernel-side state (interrupts disabled to touch it).
constinit sched::Thread* g_thread = nullptr;
constinit bool g_enabled = true;
constinit uint64_t g_burst_end = 0;  // the tick at which the current burst ends

// Written by the user-mode thread (all memory is user-accessible: paging.h), read by the kernel.
constinit volatile uint64_t g_progress = 0;
// Last state, published once per batch so the work cannot be optimized away.
constinit volatile uint64_t g_state = 0;

alignas(16) constinit uint8_t g_user_stack[kComputeUserStackBytes] = {};

// Runs at CPL3. Everything here must stay user-mode safe: registers, the two volatile stores
// and nothing else; in particular no call into kernel code. (That code is user-accessible, as
// all memory is, so such a call would run at CPL3 until its first privileged instruction or
// port access, which faults and is reported as an exception from CPL3.)
[[noreturn]] void UserMain() {
  uint64_t state = kComputeSeed;
  uint64_t progress = 0;
  for (;;) {
    for (uint32_t i = 0; i < kComputeBatch; ++i) {
      state = ComputeStep(state);
      // Keeps the compiler from moving the store into the middle of the step: an interrupt
      // that sees progress = n landed after the n-th step was complete.
      asm volatile("" : "+r"(state));
      g_progress = ++progress;
    }
    g_state = state;
  }
}

}  // namespace

void Start() {
  g_burst_end = pit::Ticks() + kComputeBurstTicks;
  g_thread = sched::SpawnUser("compute", &UserMain, g_user_stack, sizeof(g_user_stack));
}

bool IsCurrent() {
  return g_thread != nullptr && sched::Current() == g_thread;
}

uint64_t Progress() {
  return g_progress;
}

void OnTick(uint64_t now) {
  if (g_thread == nullptr || !g_enabled || now < g_burst_end) return;
  // now == g_burst_end: the thread is runnable (it slept during the previous rest only).
  const uint64_t wake = now + kComputeRestTicks;
  sched::SleepThreadUntil(g_thread, wake);
  g_burst_end = wake + kComputeBurstTicks;
}

void SetEnabled(bool enabled) {
  IrqGuard guard;
  if (g_thread == nullptr || enabled == g_enabled) return;
  g_enabled = enabled;
  if (enabled) {
    g_burst_end = pit::Ticks() + kComputeBurstTicks;
    sched::Resume(g_thread);
  } else {
    sched::Stop(g_thread);
  }
}

bool Enabled() {
  IrqGuard guard;
  return g_enabled;
}

}  // namespace testsvc::kernel::compute
