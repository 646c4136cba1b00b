// When a live state transfer stops copying while the guest runs (docs/failover.md,
// "Re-protection"). Each pre-copy round sends the pages the guest wrote during the round
// before; the guest is stopped for the last round once that can be sent within the pause the
// guest's clients should not notice. A guest that writes pages as fast as they are sent would
// keep the rounds from shrinking: it is throttled, step by step, as VMware FT slows a primary,
// and after max_rounds the transfer stops and copies whatever is left, so it always ends.
#pragma once

#include <chrono>
#include <cstdint>

namespace ftvm {

struct PrecopyOptions {
  // The pause to aim for: the guest is stopped once the dirty pages can be sent in this time
  // at the throughput the last round measured.
  std::chrono::milliseconds target_pause{20};
  // So few dirty pages are sent stopped whatever the throughput.
  uint64_t stop_copy_pages = 64;
  uint32_t max_rounds = 30;
  // A round that finds more pages dirty at its end than this share of the pages it sent is not
  // converging: the guest is throttled one step more.
  double converging_ratio = 0.8;
  double throttle_step = 0.2;
  double max_throttle = 0.95;  // the share of time the guest is held at most
};

// What one pre-copy round did.
struct PrecopyRound {
  uint32_t round = 0;       // 0: every page
  uint64_t pages_sent = 0;  // the pages this round sent
  std::chrono::nanoseconds took{0};
  uint64_t pages_dirtied = 0;  // found dirty at its end: the next round's pages
};

struct PrecopyDecision {
  bool stop_and_copy = false;
  double throttle = 0;  // the share of time the guest is held from now on
};

// The next step after `last`, given the throttle in force.
PrecopyDecision decide_precopy(const PrecopyOptions& options, const PrecopyRound& last,
                               double throttle);

}  // namespace ftvm
