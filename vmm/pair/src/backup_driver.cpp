#include "pair/backup_driver.h"

namespace ftvm {

BackupDriver::BackupDriver(replay::Replayer& replayer, channel::BackupLink& link,
                           ExecutionDriver& live, GoLive go_live)
    : replayer_(replayer), link_(link), live_driver_(live), go_live_(std::move(go_live)) {}

DriverTurn BackupDriver::between_exits(VcpuRunner& runner, const BetweenExits& at) {
  link_.report_progress(replayer_.consumed_lsn(), at.exit_count);
  link_.report_replay_costs(replay::measured_replay_costs(replayer_.stats()));
  if (live_) return live_driver_.between_exits(runner, at);
  DriverTurn turn = replayer_.between_exits(runner, at);
  if (!turn.stop || !replayer_.log_exhausted()) return turn;
  if (auto halt = go_live_(runner)) {
    turn.stop = halt;
    return turn;
  }
  live_ = true;
  // Events that arrived while the arbiter decided enter at this exit, as on any live VM.
  DriverTurn live_turn = live_driver_.between_exits(runner, at);
  live_turn.applied_inputs = live_turn.applied_inputs || turn.applied_inputs;
  return live_turn;
}

std::optional<RunResult> BackupDriver::idle(VcpuRunner& runner, const BetweenExits& at) {
  if (live_) return live_driver_.idle(runner, at);
  auto stop = replayer_.idle(runner, at);
  if (!stop || !replayer_.log_exhausted()) return stop;
  if (auto halt = go_live_(runner)) return halt;
  live_ = true;
  return std::nullopt;
}

}  // namespace ftvm
