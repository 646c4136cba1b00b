#include "vmm/devices/time_source.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>

namespace ftvm {
namespace {

int64_t ns_since_epoch(auto time_point) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time_point.time_since_epoch())
      .count();
}

TEST(HostTimeSource, MonotonicNeverGoesBackwards) {
  HostTimeSource time;
  uint64_t previous = time.monotonic_ns();
  for (int i = 0; i < 1000; ++i) {
    uint64_t now = time.monotonic_ns();
    EXPECT_GE(now, previous);
    previous = now;
  }
}

// libstdc++'s steady_clock and system_clock read CLOCK_MONOTONIC and CLOCK_REALTIME.
TEST(HostTimeSource, MonotonicMatchesTheSteadyClock) {
  HostTimeSource time;
  int64_t before = ns_since_epoch(std::chrono::steady_clock::now());
  int64_t ours = static_cast<int64_t>(time.monotonic_ns());
  int64_t after = ns_since_epoch(std::chrono::steady_clock::now());
  EXPECT_LE(before, ours);
  EXPECT_LE(ours, after);
}

TEST(HostTimeSource, RealtimeIsUnixTimeInNanoseconds) {
  HostTimeSource time;
  int64_t before = ns_since_epoch(std::chrono::system_clock::now());
  int64_t ours = time.realtime_ns();
  int64_t after = ns_since_epoch(std::chrono::system_clock::now());
  EXPECT_LE(before, ours);
  EXPECT_LE(ours, after);
  EXPECT_GT(ours, int64_t{1'600'000'000} * 1'000'000'000);  // after September 2020
}

}  // namespace
}  // namespace ftvm
