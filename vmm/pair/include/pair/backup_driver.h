// The backup's driver: the streaming replayer until the log ends, then (if the arbiter agrees)
// the live side's driver (a primary's: it records for the backups that may join), on the same
// vCPU, at the same exit, without stopping the loop.
//
// The log ends only when the primary is gone; the replayer has then applied everything it
// received and stopped at a deterministic exit. `go_live` asks the arbiter and switches the
// backends to live; it returns a stop result when this side must halt instead.
#pragma once

#include <functional>
#include <optional>

#include "logging_channel/backup_link.h"
#include "replay/replayer.h"
#include "vmm/execution_driver.h"

namespace ftvm {

class BackupDriver final : public ExecutionDriver {
 public:
  using GoLive = std::function<std::optional<RunResult>(VcpuRunner& runner)>;

  BackupDriver(replay::Replayer& replayer, channel::BackupLink& link, ExecutionDriver& live,
               GoLive go_live);

  DriverTurn between_exits(VcpuRunner& runner, const BetweenExits& at) override;
  std::optional<RunResult> idle(VcpuRunner& runner, const BetweenExits& at) override;

  bool live() const { return live_; }

 private:
  replay::Replayer& replayer_;
  channel::BackupLink& link_;
  ExecutionDriver& live_driver_;
  GoLive go_live_;
  bool live_ = false;
};

}  // namespace ftvm
