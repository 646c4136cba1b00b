#include "pair/primary_driver.h"

#include <thread>

namespace ftvm {
namespace {

// How long one throttling step holds the guest back. Small, so that the guest slows down
// smoothly (as VMware FT lowers the primary's CPU share) instead of stopping.
constexpr std::chrono::milliseconds kThrottleStep{1};
// The most one turn is held back: a backup that stopped acking is the failure detector's
// business, not the throttle's.
constexpr int kMaxThrottleSteps = 20;
// The most one turn waits for the console's reader: the guest then crawls an exit at a time
// instead of stopping, so a stop request or a lost backup is still acted on.
constexpr std::chrono::milliseconds kMaxConsoleWait{20};

}  // namespace

PrimaryDriver::PrimaryDriver(replay::Recorder& recorder, PrimaryLog& log, PendingOutput& pending,
                             channel::OutputGate& gate, channel::ConsoleWriter& console,
                             channel::LagTracker& lag, std::chrono::milliseconds max_lag,
                             std::vector<channel::HeldOutput*> held)
    : recorder_(recorder),
      log_(log),
      pending_(pending),
      gate_(gate),
      console_(console),
      lag_(lag),
      max_lag_(max_lag),
      held_(std::move(held)) {}

DriverTurn PrimaryDriver::between_exits(VcpuRunner& runner, const BetweenExits& at) {
  if (port_ != nullptr) port_->serve(runner, at);
  DriverTurn turn = recorder_.between_exits(runner, at);
  if (at.asynchronous) return turn;
  if (!horizon_logged_ || at.exit_count > horizon_) {
    horizon_logged_ = true;
    horizon_ = at.exit_count;
    if (auto r = log_.append(replay::HorizonEntry{at.exit_count}); !r) {
      turn.stop = RunResult{RunResult::Reason::kFault, 0, "logging failed: " + r.error().message};
      return turn;
    }
  }
  log_.set_exit_count(at.exit_count);
  if (auto bytes = pending_.take(); !bytes.empty()) {
    console_waited_ += console_.wait_for_room(kMaxConsoleWait);
    // Everything up to this horizon lets the backup replay to this exit and produce the same
    // bytes; once it has acknowledged that much, they may leave.
    gate_.hold(bytes, log_.next_lsn());
    log_.flush_now();
  }
  // The disk writes and frames of this exit wait for the same entries as its console output.
  bool tagged = false;
  for (channel::HeldOutput* output : held_) tagged = output->tag(log_.next_lsn()) || tagged;
  if (tagged) log_.flush_now();
  const auto now = std::chrono::steady_clock::now();
  lag_.primary_at(at.exit_count, now);
  throttle_while_lagging();
  return turn;
}

std::optional<RunResult> PrimaryDriver::idle(VcpuRunner& runner, const BetweenExits& at) {
  return recorder_.idle(runner, at);
}

void PrimaryDriver::throttle_while_lagging() {
  for (int step = 0; step < kMaxThrottleSteps; ++step) {
    if (log_.lost() || lag_.lag_time() <= max_lag_) return;
    std::this_thread::sleep_for(kThrottleStep);
    throttled_ += kThrottleStep;
  }
}

}  // namespace ftvm
