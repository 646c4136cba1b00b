#include "pair/input_router.h"

#include <fmt/format.h>

#include <algorithm>

namespace ftvm {

InputTarget choose_input_target(const PairView& view) {
  if (view.backup_live) return InputTarget::kBackup;
  if (view.primary_runs_on) return InputTarget::kPrimary;
  if (view.primary_gone || view.suspicion) return InputTarget::kHold;
  return InputTarget::kPrimary;
}

void InputRouter::typed(std::span<const uint8_t> bytes) {
  waiting_.insert(waiting_.end(), bytes.begin(), bytes.end());
}

std::vector<uint8_t> InputRouter::waiting() const {
  return {waiting_.begin(), waiting_.end()};
}

void InputRouter::gave_live_side(size_t count) {
  count = std::min(count, waiting_.size());
  const auto end = waiting_.begin() + static_cast<std::ptrdiff_t>(count);
  unlogged_.insert(unlogged_.end(), waiting_.begin(), end);
  waiting_.erase(waiting_.begin(), end);
  given_ += count;
}

void InputRouter::backup_logged(uint64_t from_log) {
  if (from_log <= logged_) return;
  const uint64_t drop = std::min<uint64_t>(from_log - logged_, unlogged_.size());
  unlogged_.erase(unlogged_.begin(), unlogged_.begin() + static_cast<std::ptrdiff_t>(drop));
  logged_ += drop;
}

Result<void> InputRouter::backup_took_over(uint64_t from_log) {
  if (from_log > given_) {
    return make_error(fmt::format(
        "the backup says its log held {} console input bytes, but the primary was given only "
        "{}: input cannot be handed over exactly once",
        from_log, given_));
  }
  if (from_log < logged_) {
    return make_error(fmt::format(
        "the backup says its log held {} console input bytes, fewer than the {} it reported "
        "before",
        from_log, logged_));
  }
  backup_logged(from_log);
  given_again_ += unlogged_.size();
  waiting_.insert(waiting_.begin(), unlogged_.begin(), unlogged_.end());
  unlogged_.clear();
  // The guest has had the logged input; the rest is given again, to the new live side.
  given_ = from_log;
  return {};
}

}  // namespace ftvm
