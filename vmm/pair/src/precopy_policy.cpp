#include "pair/precopy_policy.h"

#include <algorithm>

namespace ftvm {
namespace {

// Whether the dirty pages can be sent within the target pause at the last round's rate.
bool fits_in_pause(const PrecopyOptions& options, const PrecopyRound& last) {
  if (last.pages_dirtied <= options.stop_copy_pages) return true;
  if (last.pages_sent == 0 || last.took.count() <= 0) return false;
  const double seconds_per_page =
      std::chrono::duration<double>(last.took).count() / static_cast<double>(last.pages_sent);
  const double pause_s = seconds_per_page * static_cast<double>(last.pages_dirtied);
  return pause_s <= std::chrono::duration<double>(options.target_pause).count();
}

}  // namespace

PrecopyDecision decide_precopy(const PrecopyOptions& options, const PrecopyRound& last,
                               double throttle) {
  if (fits_in_pause(options, last) || last.round + 1 >= options.max_rounds) {
    return {true, throttle};
  }
  // The next round sends what this one found dirty: it must be clearly less than this one sent.
  const bool shrinking = static_cast<double>(last.pages_dirtied) <=
                         options.converging_ratio * static_cast<double>(last.pages_sent);
  if (shrinking) return {false, throttle};
  return {false, std::min(options.max_throttle, throttle + options.throttle_step)};
}

}  // namespace ftvm
