// The primary's driver: the recorder, plus what makes a recording protect a running guest.
//
// At every deterministic exit E it logs a horizon ("no input before E"), so the backup may
// follow; it hands the outputs the guest produced during exit E to the output gate, tagged with
// that horizon's LSN, so they leave only once the backup could reproduce them; it tells the lag
// tracker where the primary is; it tags the other outputs of exit E (disk writes, transmitted
// frames: the HeldOutputs) with the same LSN; and it slows the guest while the backup lags more
// than
// --max-lag, or while the console's reader has fallen behind (ConsoleWriter).
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include "logging_channel/console_writer.h"
#include "logging_channel/held_output.h"
#include "logging_channel/lag_tracker.h"
#include "logging_channel/output_gate.h"
#include "pair/primary_log.h"
#include "pair/transfer_port.h"
#include "replay/recorder.h"
#include "vmm/devices/console.h"

namespace ftvm {

// Collects what the guest outputs during one exit (vCPU thread only).
class PendingOutput final : public ConsoleSink {
 public:
  void write(std::span<const uint8_t> bytes) override {
    bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
  }
  std::vector<uint8_t> take() { return std::exchange(bytes_, {}); }

 private:
  std::vector<uint8_t> bytes_;
};

class PrimaryDriver final : public ExecutionDriver {
 public:
  PrimaryDriver(replay::Recorder& recorder, PrimaryLog& log, PendingOutput& pending,
                channel::OutputGate& gate, channel::ConsoleWriter& console,
                channel::LagTracker& lag, std::chrono::milliseconds max_lag,
                std::vector<channel::HeldOutput*> held = {});

  DriverTurn between_exits(VcpuRunner& runner, const BetweenExits& at) override;
  std::optional<RunResult> idle(VcpuRunner& runner, const BetweenExits& at) override;
  // Before run(): a state transfer's requests are served at every turn, before the
  // recorder's, so that the guest stops where a joining backup can start from.
  void set_transfer_port(TransferPort* port) { port_ = port; }

  // Time the guest was held back because the backup lagged.
  std::chrono::milliseconds throttled() const { return throttled_; }
  // Time the guest was held back because the console's reader fell behind.
  std::chrono::milliseconds console_waited() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(console_waited_);
  }

 private:
  void throttle_while_lagging();

  replay::Recorder& recorder_;
  PrimaryLog& log_;
  TransferPort* port_ = nullptr;
  PendingOutput& pending_;
  channel::OutputGate& gate_;
  channel::ConsoleWriter& console_;
  channel::LagTracker& lag_;
  std::chrono::milliseconds max_lag_;
  std::vector<channel::HeldOutput*> held_;
  uint64_t horizon_ = 0;
  bool horizon_logged_ = false;
  std::chrono::milliseconds throttled_{0};
  std::chrono::nanoseconds console_waited_{0};
};

}  // namespace ftvm
