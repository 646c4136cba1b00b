// The virtqueue fuzz body over its seeds and over deterministic mutations of them, so builds
// without clang run it too.
#include "virtqueue_fuzz.h"

#include <gtest/gtest.h>

#include <random>

namespace ftvm {
namespace {

TEST(VirtqueueFuzzBodyTest, SeedsAndTheirMutationsRun) {
  std::mt19937 random(42);
  for (const auto& seed : virtqueue_fuzz_seeds()) {
    EXPECT_EQ(fuzz_virtqueue(seed.data(), seed.size()), 0);
    for (int i = 0; i < 2000; ++i) {
      auto mutated = seed;
      for (int flips = 0; flips < 4; ++flips) {
        mutated[random() % mutated.size()] = static_cast<uint8_t>(random());
      }
      EXPECT_EQ(fuzz_virtqueue(mutated.data(), mutated.size()), 0);
    }
  }
}

}  // namespace
}  // namespace ftvm
