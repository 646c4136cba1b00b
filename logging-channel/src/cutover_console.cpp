#include "logging_channel/cutover_console.h"

#include <algorithm>
#include <vector>

namespace ftvm::channel {

CutoverConsole::CutoverConsole(ConsoleSink& live, std::function<uint64_t()> released)
    : live_(live), released_(std::move(released)) {}

void CutoverConsole::trim_locked(uint64_t released) {
  const uint64_t keep_from = std::max(released, produced_ > kMaxKept ? produced_ - kMaxKept : 0);
  if (keep_from <= kept_base_) return;
  const uint64_t drop = std::min<uint64_t>(keep_from - kept_base_, kept_.size());
  kept_.erase(kept_.begin(), kept_.begin() + static_cast<std::ptrdiff_t>(drop));
  kept_base_ += drop;
}

void CutoverConsole::write(std::span<const uint8_t> bytes) {
  std::lock_guard lock(mutex_);
  produced_ += bytes.size();
  if (resumed_at_) {
    live_.write(bytes);
    return;
  }
  kept_.insert(kept_.end(), bytes.begin(), bytes.end());
  trim_locked(released_());
}

uint64_t CutoverConsole::go_live() {
  std::lock_guard lock(mutex_);
  if (resumed_at_) return *resumed_at_;
  trim_locked(released_());
  resumed_at_ = kept_base_;
  const std::vector<uint8_t> unreleased(kept_.begin(), kept_.end());
  kept_.clear();
  if (!unreleased.empty()) live_.write(unreleased);
  return *resumed_at_;
}

void CutoverConsole::start_at(uint64_t offset) {
  std::lock_guard lock(mutex_);
  kept_.clear();
  kept_base_ = offset;
  produced_ = offset;
}

uint64_t CutoverConsole::produced() const {
  std::lock_guard lock(mutex_);
  return produced_;
}

std::optional<uint64_t> CutoverConsole::resumed_at() const {
  std::lock_guard lock(mutex_);
  return resumed_at_;
}

}  // namespace ftvm::channel
