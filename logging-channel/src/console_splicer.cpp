#include "logging_channel/console_splicer.h"

#include <fmt/format.h>

namespace ftvm::channel {

std::span<const uint8_t> ConsoleSplicer::from_primary(std::span<const uint8_t> bytes) {
  if (primary_cut_off_) {
    withheld_from_primary_ += bytes.size();
    return {};
  }
  history_.insert(history_.end(), bytes.begin(), bytes.end());
  shown_ += bytes.size();
  if (history_.size() > kMaxHistory) {
    const size_t drop = history_.size() - kMaxHistory;
    history_.erase(history_.begin(), history_.begin() + static_cast<std::ptrdiff_t>(drop));
    history_base_ += drop;
  }
  return bytes;
}

void ConsoleSplicer::primary_cut_off() {
  primary_cut_off_ = true;
}

void ConsoleSplicer::backup_resumes_at(uint64_t offset) {
  backup_offset_ = offset;
  if (offset > shown_) gap_ = offset - shown_;
}

void ConsoleSplicer::backup_resumes_unknown() {
  backup_offset_ = shown_;
  overlap_checked_ = false;
}

std::vector<uint8_t> ConsoleSplicer::from_backup(std::span<const uint8_t> bytes) {
  if (!backup_offset_) backup_resumes_unknown();
  std::vector<uint8_t> fresh;
  for (const uint8_t byte : bytes) {
    const uint64_t offset = (*backup_offset_)++;
    if (offset >= shown_) {
      fresh.push_back(byte);
      continue;
    }
    ++overlap_;
    if (offset < history_base_ || mismatch_) continue;
    const uint8_t seen = history_[offset - history_base_];
    if (seen != byte) {
      mismatch_ = fmt::format(
          "the backup's output at byte {} is {:#04x} where the primary had shown {:#04x}", offset,
          byte, seen);
    }
  }
  shown_ += fresh.size();
  history_.insert(history_.end(), fresh.begin(), fresh.end());
  return fresh;
}

}  // namespace ftvm::channel
