#include "vmm/host_write_log.h"

namespace ftvm {
namespace {

constexpr uint64_t kPageBytes = 4096;

}  // namespace

HostWriteLog::HostWriteLog(uint64_t ram_bytes)
    : words_(std::make_unique<std::atomic<uint64_t>[]>((ram_bytes / kPageBytes + 63) / 64)),
      word_count_((ram_bytes / kPageBytes + 63) / 64) {}

void HostWriteLog::mark(uint64_t gpa, uint64_t length) {
  if (length == 0) return;
  const uint64_t last = (gpa + length - 1) / kPageBytes;
  for (uint64_t page = gpa / kPageBytes; page <= last && page / 64 < word_count_; ++page) {
    words_[page / 64].fetch_or(uint64_t{1} << (page % 64), std::memory_order_relaxed);
  }
}

std::vector<uint64_t> HostWriteLog::take() {
  std::vector<uint64_t> pages;
  for (uint64_t word = 0; word < word_count_; ++word) {
    if (words_[word].load(std::memory_order_relaxed) == 0) continue;
    for (uint64_t bits = words_[word].exchange(0, std::memory_order_relaxed); bits != 0;
         bits &= bits - 1) {
      pages.push_back((word * 64 + static_cast<uint64_t>(__builtin_ctzll(bits))) * kPageBytes);
    }
  }
  return pages;
}

}  // namespace ftvm
