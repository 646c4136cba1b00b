#include "replay/landmark_choice.h"

#include <algorithm>

namespace ftvm::replay {
namespace {

constexpr std::chrono::nanoseconds kMinProbeBudget = std::chrono::microseconds(500);
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

LandmarkChoice choose_forced_breakpoint(const ProbeObservation& probe, const ReplayCosts& costs,
                                        const SearchLimits& limits) {
  LandmarkChoice choice = choose_landmark(probe, costs);
  const double max_us = std::chrono::duration<double, std::micro>(limits.max_time).count();
  const bool within_reach = choice.estimated_hits <= static_cast<double>(limits.max_hits) / 2 &&
                            choice.breakpoint_cost_us <= max_us / 2;
  choice.kind = within_reach && !probe.same_fingerprint ? LandmarkKind::kBreakpoint
                                                        : LandmarkKind::kCheckpoint;
  return choice;
}

std::chrono::nanoseconds probe_budget_for(std::chrono::nanoseconds max_delay) {
  return std::clamp(max_delay, kMinProbeBudget, kMaxProbeBudget);
}

// A breakpoint wins when (since_exit + period) / period * hit < checkpoint, that is when
// period > since_exit / (checkpoint / hit - 1).
bool probe_can_pay_off(std::chrono::nanoseconds since_exit, std::chrono::nanoseconds budget,
                       const ReplayCosts& costs) {
  if (costs.breakpoint_hit_us <= 0) return true;
  const double break_even_hits = costs.checkpoint_load_us / costs.breakpoint_hit_us;
  if (break_even_hits <= 1.0) return false;
  const double shortest_period_ns = static_cast<double>(since_exit.count()) / (break_even_hits - 1);
  return shortest_period_ns < static_cast<double>(budget.count());
}

}  // namespace ftvm::replay
