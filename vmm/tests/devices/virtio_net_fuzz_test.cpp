// The virtio-net fuzz body over its seeds and over deterministic mutations of them, so builds
// without clang run it too.
#include "virtio_net_fuzz.h"

#include <gtest/gtest.h>

#include <random>

namespace ftvm {
namespace {

TEST(VirtioNetFuzzBodyTest, SeedsAndTheirMutationsRun) {
  std::mt19937 random(7);
  for (const auto& seed : virtio_net_fuzz_seeds()) {
    EXPECT_EQ(fuzz_virtio_net(seed.data(), seed.size()), 0);
    for (int i = 0; i < 1000; ++i) {
      auto mutated = seed;
      for (int flips = 0; flips < 4; ++flips) {
        mutated[random() % mutated.size()] = static_cast<uint8_t>(random());
      }
      EXPECT_EQ(fuzz_virtio_net(mutated.data(), mutated.size()), 0);
    }
  }
}

}  // namespace
}  // namespace ftvm
