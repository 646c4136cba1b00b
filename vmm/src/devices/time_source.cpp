#include "vmm/devices/time_source.h"

#include <time.h>

namespace ftvm {
namespace {

constexpr int64_t kNsPerSecond = 1'000'000'000;

// clock_gettime can only fail for an unknown clock id or a bad pointer, neither possible here.
int64_t read_clock_ns(clockid_t clock) {
  timespec now{};
  clock_gettime(clock, &now);
  return static_cast<int64_t>(now.tv_sec) * kNsPerSecond + now.tv_nsec;
}

}  // namespace

uint64_t HostTimeSource::monotonic_ns() {
  return static_cast<uint64_t>(read_clock_ns(CLOCK_MONOTONIC));
}

int64_t HostTimeSource::realtime_ns() {
  return read_clock_ns(CLOCK_REALTIME);
}

}  // namespace ftvm
