#include "replay/landmark_choice.h"

#include <algorithm>

namespace ftvm::replay {
namespace {

constexpr std::chrono::nanoseconds kMinProbeBudget = std::chrono::microseconds(250);
constexpr std::chrono::nanoseconds kMaxProbeBudget = std::chrono::milliseconds(5);

}  // namespace

ReplayCosts ReplayCostModel::current() const {
  return {hit_us_.load(std::memory_order_relaxed), checkpoint_us_.load(std::memory_order_relaxed)};
}

void ReplayCostModel::report(const ReplayCosts& measured) {
  if (measured.breakpoint_hit_us > 0) {
    hit_us_.store(measured.breakpoint_hit_us, std::memory_order_relaxed);
  }
  if (measured.checkpoint_load_us > 0) {
    checkpoint_us_.store(measured.checkpoint_load_us, std::memory_order_relaxed);
  }
  if (measured.breakpoint_hit_us > 0 || measured.checkpoint_load_us > 0) {
    reported_.store(true, std::memory_order_relaxed);
  }
}

LandmarkChoice choose_landmark(const ProbeObservation& probe, const ReplayCosts& costs) {
  LandmarkChoice choice;
  // At least the execution the landmark is on; a period of zero (clock granularity) means
  // RIP is as hot as can be measured.
  const double period_ns = static_cast<double>(std::max<int64_t>(probe.period.count(), 1));
  const double since_ns = static_cast<double>(std::max<int64_t>(probe.since_exit.count(), 0));
  choice.estimated_hits = std::max(1.0, since_ns / period_ns);
  choice.breakpoint_cost_us = choice.estimated_hits * costs.breakpoint_hit_us;
  choice.checkpoint_cost_us = costs.checkpoint_load_us;
  const bool breakpoint_cheaper = choice.breakpoint_cost_us < choice.checkpoint_cost_us;
  choice.kind = breakpoint_cheaper && !probe.same_fingerprint ? LandmarkKind::kBreakpoint
                                                              : LandmarkKind::kCheckpoint;
  return choice;
}

std::chrono::nanoseconds probe_budget(std::chrono::nanoseconds max_delay) {
  return std::clamp(max_delay, kMinProbeBudget, kMaxProbeBudget);
}

}  // namespace ftvm::replay
