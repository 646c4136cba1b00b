#include "kernel/compute_step.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>

#include "kernel/config.h"
#include "kernel/pit.h"

namespace testsvc::kernel {
namespace {

TEST(TestsvcComputeStep, NeverReachesZeroFromTheSeed) {
  uint64_t state = kComputeSeed;
  for (int i = 0; i < 1'000'000; ++i) {
    state = ComputeStep(state);
    ASSERT_NE(state, 0u) << "after " << i << " steps";
  }
}

TEST(TestsvcComputeStep, IsInjectiveOnASample) {
  std::set<uint64_t> outputs;
  for (uint64_t x = 1; x <= 100'000; ++x) outputs.insert(ComputeStep(x));
  EXPECT_EQ(outputs.size(), 100'000u);
}

TEST(TestsvcComputeStep, IsStable) {
  // The guest's behaviour (and so every recorded trace) depends on this function: changing it
  // must be deliberate.
  static_assert(ComputeStep(0) == 0);
  static_assert(ComputeStep(1) == ((1ull ^ (1ull << 13)) ^ ((1ull ^ (1ull << 13)) >> 7) ^
                                   (((1ull ^ (1ull << 13)) ^ ((1ull ^ (1ull << 13)) >> 7)) << 17)) *
                                      0x2545f4914f6cdd1dull);
}

TEST(TestsvcPitDivisor, RoundsToNearest) {
  static_assert(pit::Divisor(1193182, 100) == 11932);  // 11931.82
  static_assert(pit::Divisor(1193182, 1000) == 1193);  // 1193.182
  EXPECT_EQ(pit::kTickDivisor, pit::Divisor(abi::kPitInputHz, abi::kTickHz));
}

}  // namespace
}  // namespace testsvc::kernel
