// Turns one KVM exit (the kvm_run page after KVM_RUN returned) into device accesses and an
// action for the vCPU loop, and counts exits. It touches nothing but the kvm_run page and the
// buses, so tests drive it with a hand-filled kvm_run and no /dev/kvm.
//
// The *deterministic exit count* (E in docs/architecture.md) counts exits caused by the
// guest's own instruction stream (PIO, MMIO, HLT, interrupt window). Exits forced from outside
// (a signal kick, KVM_EXIT_INTR) land at arbitrary points, and debug exits happen only where a
// replayer set a breakpoint: neither is counted.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <string>

#include "vmm/bus.h"

namespace ftvm {

enum class ExitAction {
  kContinue,  // re-enter the guest
  kHalt,      // guest executed HLT: wait for an interrupt
  kFault,     // the guest or KVM cannot go on (triple fault, entry failure, internal error)
};

struct ExitOutcome {
  ExitAction action = ExitAction::kContinue;
  std::string fault;  // for kFault: what happened
};

struct ExitCounters {
  uint64_t deterministic = 0;  // E
  uint64_t pio = 0;
  uint64_t mmio = 0;
  uint64_t hlt = 0;
  uint64_t irq_window = 0;
  uint64_t debug = 0;
  uint64_t interrupted = 0;  // asynchronous, not part of E
  uint64_t unclaimed = 0;    // PIO/MMIO to addresses no device owns
  uint64_t total() const { return pio + mmio + hlt + irq_window + debug + interrupted; }
};

class ExitHandler {
 public:
  // `run_page_bytes` is the size of the kvm_run mapping; PIO data offsets are checked against it.
  ExitHandler(Bus& pio, Bus& mmio, size_t run_page_bytes)
      : pio_(pio), mmio_(mmio), run_page_bytes_(run_page_bytes) {}

  ExitOutcome handle(kvm_run& run);
  // KVM_RUN returned EINTR: an asynchronous exit.
  void note_interrupted() { ++counters_.interrupted; }
  // A VM that takes over another's state goes on counting from that one's exit count.
  void continue_from(uint64_t exit_count) { counters_.deterministic = exit_count; }

  const ExitCounters& counters() const { return counters_; }
  uint64_t exit_count() const { return counters_.deterministic; }

 private:
  ExitOutcome handle_pio(kvm_run& run);
  ExitOutcome handle_mmio(kvm_run& run);
  void access(Bus& bus, uint64_t address, uint8_t* data, uint32_t size, bool is_write);

  Bus& pio_;
  Bus& mmio_;
  size_t run_page_bytes_;
  ExitCounters counters_;
};

}  // namespace ftvm
