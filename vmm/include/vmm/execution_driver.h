// Who decides which inputs reach the guest, and where. The vCPU loop (VcpuRunner) is the same
// for a live VM, a recording primary and a replaying backup; what differs is its driver:
//
//   LiveDriver      applies events from the host as they come (vmm/live_driver.h)
//   Recorder        does the same and logs each input with its position (replay/recorder.h)
//   Replayer        applies logged inputs at their logged positions (replay/replayer.h)
//
// The runner calls the driver only between two exits, which is the only place inputs may enter.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace ftvm {

class VcpuRunner;

// A stop of the vCPU loop and why.
struct RunResult {
  enum class Reason { kGuestShutdown, kStopRequested, kFault, kDivergence, kReplayComplete };
  Reason reason;
  uint32_t guest_status = 0;  // for kGuestShutdown
  std::string detail;         // the stop reason, the fault, or the divergence report
};

// Where the vCPU is, between two exits.
struct BetweenExits {
  uint64_t exit_count = 0;    // E: deterministic exits so far
  bool asynchronous = false;  // the last return from KVM_RUN was not a deterministic exit (a
                              // kick, or a debug exit the driver itself caused)
  bool halted = false;
};

struct DriverTurn {
  bool applied_inputs = false;  // inputs entered the guest at this point
  // At a deterministic exit, the driver moved the guest past it (a replayer loaded a
  // checkpoint taken later): what the runner does after an exit (offering waiting console
  // input to the UART) the driver did before the load, where the recording's runner did it.
  bool moved_past_exit = false;
  std::optional<RunResult> stop;  // stop the loop with this result
};

class ExecutionDriver {
 public:
  virtual ~ExecutionDriver() = default;
  // Applies the inputs due at `at`. At an asynchronous point where nothing was applied, the
  // runner delivers no interrupt, so that nothing enters the guest at an unlogged position.
  virtual DriverTurn between_exits(VcpuRunner& runner, const BetweenExits& at) = 0;
  // The guest is halted and no interrupt can be delivered: wait for something to change.
  virtual std::optional<RunResult> idle(VcpuRunner& runner, const BetweenExits& at) = 0;
};

}  // namespace ftvm
