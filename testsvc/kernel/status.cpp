#include "kernel/status.h"

#include "kernel/compute.h"
#include "kernel/console.h"
#include "kernel/cpu.h"
#include "kernel/journal.h"
#include "kernel/sched.h"
#include "testsvc/abi.h"

namespace testsvc::kernel::status {
namespace {

struct Snapshot {
  uint64_t tick = 0;
  uint64_t progress = 0;
  uint64_t journal_count = 0;
  uint64_t digest = 0;
};

constinit sched::Thread* g_thread = nullptr;
constinit Snapshot g_pending = {};
constinit bool g_has_pending = false;
constinit uint64_t g_missed = 0;

void Main() {
  for (;;) {
    Snapshot snapshot;
    {
      IrqGuard guard;
      while (!g_has_pending) sched::Block();
      snapshot = g_pending;
      g_has_pending = false;
    }
    console::Line line;
    line.Append(abi::kStatusPrefix);
    line.Append("tick=").AppendDecimal(snapshot.tick);
    line.Append(" progress=").AppendDecimal(snapshot.progress);
    line.Append(" journal=").AppendDecimal(snapshot.journal_count);
    line.Append(" digest=").AppendHex(snapshot.digest, 16);
    console::WriteLine(line);
  }
}

}  // namespace

void Start() {
  g_thread = sched::Spawn("status", &Main);
}

void OnTick(uint64_t tick) {
  if (tick % abi::kStatusEveryTicks != 0 || g_thread == nullptr) return;
  if (g_has_pending) ++g_missed;
  g_pending = {tick, compute::Progress(), journal::Count(), journal::Digest()};
  g_has_pending = true;
  sched::Wake(g_thread);
}

uint64_t Missed() {
  IrqGuard guard;
  return g_missed;
}

}  // namespace testsvc::kernel::status
