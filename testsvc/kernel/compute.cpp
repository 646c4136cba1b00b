#include "kernel/compute.h"

#include "kernel/compute_step.h"
#include "kernel/config.h"
#include "kernel/pit.h"
#include "kernel/sched.h"

namespace testsvc::kernel::compute {
namespace {

constinit sched::Thread* g_thread = nullptr;
constinit volatile uint64_t g_progress = 0;
// Last state, published once per batch so the work cannot be optimized away.
constinit volatile uint64_t g_state = 0;

void Main() {
  uint64_t state = kComputeSeed;
  for (;;) {
    const uint64_t burst_end = pit::Ticks() + kComputeBurstTicks;
    while (pit::Ticks() < burst_end) {
      for (uint32_t i = 0; i < kComputeBatch; ++i) {
        state = ComputeStep(state);
        g_progress = g_progress + 1;
      }
      g_state = state;
    }
    sched::SleepUntil(burst_end + kComputeRestTicks);
  }
}

}  // namespace

void Start() {
  g_thread = sched::Spawn("compute", &Main);
}

bool IsCurrent() {
  return g_thread != nullptr && sched::Current() == g_thread;
}

uint64_t Progress() {
  return g_progress;
}

}  // namespace testsvc::kernel::compute
