#include "kernel/journal.h"

#include "kernel/config.h"
#include "kernel/cpu.h"

namespace testsvc::kernel::journal {
namespace {

// In .data (its digest starts at the FNV offset basis). A VMM or debugger can find it by the
// symbol name; the host can recompute the digest from the entries (see JournalDigestStep).
constinit Journal<kJournalCapacity> g_journal;

}  // namespace

void RecordInterrupt(uint64_t tick, uint64_t progress, uint8_t irq) {
  g_journal.Record({tick, progress, irq});
}

uint64_t Count() {
  IrqGuard guard;
  return g_journal.count();
}

uint64_t Digest() {
  IrqGuard guard;
  return g_journal.digest();
}

}  // namespace testsvc::kernel::journal
