// Where device models get the host's notion of time.
//
// Reading host time is nondeterministic, so no device model calls clock_gettime itself: it asks
// a TimeSource. The live source reads the host clocks; a recording source logs every value it
// hands out, and a replaying source hands the logged values back in the same order.
#pragma once

#include <cstdint>

namespace ftvm {

class TimeSource {
 public:
  virtual ~TimeSource() = default;
  // Monotonic time in nanoseconds, arbitrary epoch (drives PIT counts).
  virtual uint64_t monotonic_ns() = 0;
  // Wall-clock time in nanoseconds since the Unix epoch, UTC (drives the RTC).
  virtual int64_t realtime_ns() = 0;
};

class HostTimeSource final : public TimeSource {
 public:
  uint64_t monotonic_ns() override;
  int64_t realtime_ns() override;
};

}  // namespace ftvm
