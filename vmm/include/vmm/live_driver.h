// The driver of an unprotected VM: host events are applied as soon as the vCPU is between two
// exits, and nothing is logged.
#pragma once

#include "vmm/event_queue.h"
#include "vmm/execution_driver.h"

namespace ftvm {

class LiveDriver final : public ExecutionDriver {
 public:
  explicit LiveDriver(EventQueue& events) : events_(events) {}
  DriverTurn between_exits(VcpuRunner& runner, const BetweenExits& at) override;
  std::optional<RunResult> idle(VcpuRunner& runner, const BetweenExits& at) override;

 private:
  EventQueue& events_;
};

}  // namespace ftvm
