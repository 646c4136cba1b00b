// How the recorder picks the kind of an asynchronous landmark in --async auto.
//
// A breakpoint landmark costs the replayer one debug exit (plus a step over) for every time
// the guest executed the landmark's instruction since exit E; a checkpoint landmark costs one
// state load, whatever the code. So the choice hinges on how often RIP ran since E, which the
// primary cannot count without paying the same price. It estimates it instead with a probe:
// kicked at RIP, it arms a hardware breakpoint there and lets the guest run on, with the
// input still waiting, until RIP comes round again. If it does within the probe's budget, the
// input lands on that second execution, and the time since E divided by the time RIP took to
// come round estimates how many executions a search would step through. The costs per hit and
// per checkpoint are the ones the backup reports (its acks carry them), or defaults measured
// on this kind of host until it has.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "replay/trace_entry.h"

namespace ftvm::replay {

struct ReplayCosts {
  double breakpoint_hit_us = 0;   // replay time per breakpoint hit, step over included
  double checkpoint_load_us = 0;  // replay time per checkpoint load
};

// Measured on kvm_pvm (CPL0 emulated): about 80 us per hit in the kvm record/replay tests'
// breakpoint searches, about 150 us per checkpoint load of the default guest
// (scripts/bench/record-replay). Used until a backup reports its own.
inline constexpr ReplayCosts kDefaultReplayCosts{80.0, 150.0};

// The costs the recorder decides with: the defaults, replaced by the backup's figures as they
// arrive. Written by the channel's receive thread, read by the vCPU thread.
class ReplayCostModel {
 public:
  ReplayCosts current() const;
  // A figure of zero means the backup has not measured that kind yet: the previous value
  // stays.
  void report(const ReplayCosts& measured);
  bool reported() const { return reported_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> hit_us_{kDefaultReplayCosts.breakpoint_hit_us};
  std::atomic<double> checkpoint_us_{kDefaultReplayCosts.checkpoint_load_us};
  std::atomic<bool> reported_{false};
};

// What one probe saw, at the point where RIP came round again.
struct ProbeObservation {
  std::chrono::nanoseconds since_exit{0};  // from exit E to the second execution
  std::chrono::nanoseconds period{0};      // from the kick to the second execution
  // GPRs and RFLAGS were the same at both executions: a loop whose state lives only in
  // memory, where a fingerprint cannot tell one execution from the next.
  bool same_fingerprint = false;
};

struct LandmarkChoice {
  LandmarkKind kind = LandmarkKind::kCheckpoint;
  double estimated_hits = 0;  // breakpoint hits a search would need
  double breakpoint_cost_us = 0;
  double checkpoint_cost_us = 0;
};

LandmarkChoice choose_landmark(const ProbeObservation& probe, const ReplayCosts& costs);

// How long one breakpoint search may go on before the replayer counts its landmark as lost.
// The search makes progress by the guest's measure (every hit is the landmark's RIP executed
// again), so a stall watchdog cannot end it; these do. A host whose debug exits are slow
// (nested KVM) meets the time first, a fast one the hits.
struct SearchLimits {
  uint64_t max_hits = 200'000;
  std::chrono::milliseconds max_time{20'000};
};

// --async breakpoint's verdict once a probe saw RIP come round: a breakpoint, unless the
// recorder can already tell that its search would fail: the registers repeat (no fingerprint
// tells the executions apart), or the estimated search passes half of either limit (the
// estimate is rough, and a replay runs slower than its recording). kCheckpoint then stands
// for the backend's fallback: a checkpoint on KVM, a counted landmark on the software CPU.
LandmarkChoice choose_forced_breakpoint(const ProbeObservation& probe, const ReplayCosts& costs,
                                        const SearchLimits& limits);

// How long a probe waits for RIP to come round before it gives up and checkpoints wherever
// the guest is then: --max-delay, within bounds, so an input waits at most about twice its
// delay.
std::chrono::nanoseconds probe_budget_for(std::chrono::nanoseconds max_delay);

// Whether a probe started `since_exit` after exit E could still end in a breakpoint verdict:
// RIP must come round late enough for few executions to fit since E, yet within the budget.
// When it cannot (the guest has run long without an exit), the recorder checkpoints at once
// instead of delaying the input for nothing.
bool probe_can_pay_off(std::chrono::nanoseconds since_exit, std::chrono::nanoseconds budget,
                       const ReplayCosts& costs);

}  // namespace ftvm::replay
