// The live console backend: guest serial output to a file descriptor (stdout or a file).
// Output is flushed at each end of line so a person watching sees whole lines promptly,
// and on destruction so nothing is lost when the VM stops.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "vmm/devices/console.h"

namespace ftvm {

class FileConsole final : public ConsoleSink {
 public:
  explicit FileConsole(int fd) : fd_(fd) {}
  ~FileConsole() override { flush(); }

  void write(std::span<const uint8_t> bytes) override;
  void flush();

  uint64_t bytes_written() const { return bytes_written_; }
  // Steady-clock time of the first byte the guest wrote, if any.
  std::optional<std::chrono::steady_clock::time_point> first_output() const {
    return first_output_;
  }

 private:
  int fd_;
  std::vector<uint8_t> buffer_;
  uint64_t bytes_written_ = 0;
  std::optional<std::chrono::steady_clock::time_point> first_output_;
};

}  // namespace ftvm
