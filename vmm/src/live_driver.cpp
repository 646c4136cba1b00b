#include "vmm/live_driver.h"

#include <chrono>

#include "vmm/vcpu_runner.h"

namespace ftvm {

namespace {
// A halted guest re-checks for a stop request at least this often.
constexpr auto kHaltPollInterval = std::chrono::milliseconds(100);
}  // namespace

DriverTurn LiveDriver::between_exits(VcpuRunner& runner, const BetweenExits&) {
  DriverTurn turn;
  while (auto event = events_.try_pop()) {
    if (auto r = runner.platform().apply(*event); !r) {
      turn.stop = RunResult{RunResult::Reason::kFault, 0, r.error().message};
      return turn;
    }
    turn.applied_inputs = true;
  }
  if (auto reason = events_.stop_reason()) {
    turn.stop = RunResult{RunResult::Reason::kStopRequested, 0, *reason};
  }
  return turn;
}

std::optional<RunResult> LiveDriver::idle(VcpuRunner&, const BetweenExits&) {
  events_.wait(EventQueue::Clock::now() + kHaltPollInterval);
  return std::nullopt;
}

}  // namespace ftvm
