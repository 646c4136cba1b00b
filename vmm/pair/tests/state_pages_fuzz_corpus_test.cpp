// The state-pages fuzz body over its seeds and every one-byte truncation and bit flip of them,
// so that builds without clang check the same properties deterministically.
#include <gtest/gtest.h>

#include "fuzz_state_pages.h"

namespace ftvm {
namespace {

TEST(StatePagesFuzzCorpusTest, SeedsAndTheirMutationsKeepTheProperties) {
  const auto seeds = state_pages_fuzz_seeds();
  ASSERT_GE(seeds.size(), 9u);
  size_t runs = 0;
  for (const auto& seed : seeds) {
    EXPECT_EQ(fuzz_state_pages(seed.data(), seed.size()), 0);
    for (size_t at = 0; at < seed.size(); at += 1 + seed.size() / 64) {
      auto mutated = seed;
      mutated[at] ^= static_cast<uint8_t>(1u << (at % 8));
      EXPECT_EQ(fuzz_state_pages(mutated.data(), mutated.size()), 0);
      EXPECT_EQ(fuzz_state_pages(seed.data(), at), 0);
      runs += 2;
    }
  }
  EXPECT_GT(runs, 100u);
}

}  // namespace
}  // namespace ftvm
