// Test doubles shared by the device model tests.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "vmm/devices/console.h"
#include "vmm/devices/io_device.h"
#include "vmm/devices/irq.h"
#include "vmm/devices/time_source.h"

namespace ftvm::testing {

// A clock the test moves by hand. It counts reads, so tests can check when a model reads it.
class FakeTimeSource final : public TimeSource {
 public:
  uint64_t monotonic_ns() override {
    ++monotonic_reads;
    return monotonic;
  }
  int64_t realtime_ns() override {
    ++realtime_reads;
    return realtime;
  }

  uint64_t monotonic = 0;
  int64_t realtime = 0;
  int monotonic_reads = 0;
  int realtime_reads = 0;
};

// Records every level change driven on every line.
class RecordingIrqSink final : public IrqSink {
 public:
  struct Change {
    uint8_t irq;
    bool high;
    bool operator==(const Change&) const = default;
  };

  void set_irq_level(uint8_t irq, bool high) override {
    changes.push_back({irq, high});
    levels[irq & 15] = high;
  }
  // Rising edges seen on `irq`.
  int rising_edges(uint8_t irq) const {
    int edges = 0;
    bool level = false;
    for (const Change& change : changes) {
      if (change.irq != irq) continue;
      if (change.high && !level) ++edges;
      level = change.high;
    }
    return edges;
  }
  bool level(uint8_t irq) const { return levels[irq & 15]; }

  std::vector<Change> changes;
  bool levels[16] = {};
};

class RecordingConsole final : public ConsoleSink {
 public:
  void write(std::span<const uint8_t> bytes) override {
    output.insert(output.end(), bytes.begin(), bytes.end());
  }
  std::vector<uint8_t> output;
};

// Byte-wide port access helpers, as the vCPU loop would issue them for in/out instructions.
inline uint8_t inb(IoDevice& device, uint64_t offset) {
  uint8_t value = 0;
  device.read(offset, std::span<uint8_t>(&value, 1));
  return value;
}

inline void outb(IoDevice& device, uint64_t offset, uint8_t value) {
  device.write(offset, std::span<const uint8_t>(&value, 1));
}

}  // namespace ftvm::testing
