#include "vmm/host_write_log.h"

#include "vmm/page_bitmap.h"

namespace ftvm {
namespace {

uint64_t words_for(uint64_t ram_bytes) {
  return (ram_bytes / kBitmapPageBytes + 63) / 64;
}

}  // namespace

HostWriteLog::HostWriteLog(uint64_t ram_bytes)
    : words_(std::make_unique<std::atomic<uint64_t>[]>(words_for(ram_bytes))),
      word_count_(words_for(ram_bytes)) {}

void HostWriteLog::mark(uint64_t gpa, uint64_t length) {
  if (length == 0) return;
  const uint64_t last = (gpa + length - 1) / kBitmapPageBytes;
  for (uint64_t page = gpa / kBitmapPageBytes; page <= last && page / 64 < word_count_; ++page) {
    words_[page / 64].fetch_or(uint64_t{1} << (page % 64), std::memory_order_relaxed);
  }
}

std::vector<uint64_t> HostWriteLog::take() {
  std::vector<uint64_t> bitmap(word_count_);
  for (uint64_t word = 0; word < word_count_; ++word) {
    if (words_[word].load(std::memory_order_relaxed) != 0) {
      bitmap[word] = words_[word].exchange(0, std::memory_order_relaxed);
    }
  }
  return dirty_pages_from_bitmap(bitmap);
}

}  // namespace ftvm
