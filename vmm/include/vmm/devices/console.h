// Backends of the serial console: where guest output goes. Input arrives as events (see
// Uart16550::receive), because when a byte arrives is nondeterministic.
#pragma once

#include <cstdint>
#include <span>

namespace ftvm {

class ConsoleSink {
 public:
  virtual ~ConsoleSink() = default;
  virtual void write(std::span<const uint8_t> bytes) = 0;
};

}  // namespace ftvm
