// A console whose every byte reaches the file descriptor at once. A side of a pair may be
// killed at any moment, and output it released must not die in a user-space buffer: the
// backup's cutover counts on every released byte having left.
#pragma once

#include "vmm/file_console.h"

namespace ftvm {

class WriteThroughConsole final : public ConsoleSink {
 public:
  explicit WriteThroughConsole(FileConsole& file) : file_(file) {}
  void write(std::span<const uint8_t> bytes) override {
    file_.write(bytes);
    file_.flush();
  }

 private:
  FileConsole& file_;
};

}  // namespace ftvm
