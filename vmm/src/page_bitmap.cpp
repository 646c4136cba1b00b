#include "vmm/page_bitmap.h"

namespace ftvm {

std::vector<uint64_t> dirty_pages_from_bitmap(std::span<const uint64_t> bitmap) {
  std::vector<uint64_t> pages;
  for (size_t word = 0; word < bitmap.size(); ++word) {
    for (uint64_t bits = bitmap[word]; bits != 0; bits &= bits - 1) {
      pages.push_back((word * 64 + static_cast<uint64_t>(__builtin_ctzll(bits))) *
                      kBitmapPageBytes);
    }
  }
  return pages;
}

}  // namespace ftvm
