#include "logging_channel/console_splicer.h"

#include <fmt/format.h>

namespace ftvm::channel {

void ConsoleSplicer::remember(std::span<const uint8_t> shown) {
  history_.insert(history_.end(), shown.begin(), shown.end());
  shown_ += shown.size();
  if (history_.size() > kMaxHistory) {
    const size_t drop = history_.size() - kMaxHistory;
    history_.erase(history_.begin(), history_.begin() + static_cast<std::ptrdiff_t>(drop));
    history_base_ += drop;
  }
}

std::vector<uint8_t> ConsoleSplicer::from_primary(std::span<const uint8_t> bytes) {
  if (primary_cut_off_) {
    withheld_from_primary_ += bytes.size();
    return {};
  }
  if (primary_offset_) return splice(*primary_offset_, bytes);
  remember(bytes);
  return {bytes.begin(), bytes.end()};
}

void ConsoleSplicer::primary_cut_off() {
  primary_cut_off_ = true;
}

void ConsoleSplicer::backup_resumes_at(uint64_t offset) {
  backup_offset_ = offset;
  if (offset > shown_) gap_ += offset - shown_;
}

void ConsoleSplicer::backup_resumes_unknown() {
  backup_offset_ = shown_;
  overlap_checked_ = false;
}

std::vector<uint8_t> ConsoleSplicer::from_backup(std::span<const uint8_t> bytes) {
  if (!backup_offset_) backup_resumes_unknown();
  return splice(*backup_offset_, bytes);
}

void ConsoleSplicer::promote_backup() {
  primary_offset_ = backup_offset_.value_or(shown_);
  backup_offset_.reset();
  primary_cut_off_ = false;
}

std::vector<uint8_t> ConsoleSplicer::splice(uint64_t& next_offset, std::span<const uint8_t> bytes) {
  std::vector<uint8_t> fresh;
  for (const uint8_t byte : bytes) {
    const uint64_t offset = next_offset++;
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
  remember(fresh);
  return fresh;
}

}  // namespace ftvm::channel
