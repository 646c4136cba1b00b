// A fixed-size byte FIFO. Pure and header-only.
//
// Not synchronized: in the kernel, the producer is an IRQ handler and the consumer runs with
// interrupts disabled, which on one CPU makes every operation atomic.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace testsvc::kernel {

template <size_t Capacity>
class ByteRing {
  static_assert(Capacity > 0 && (Capacity & (Capacity - 1)) == 0, "power of two");

 public:
  constexpr ByteRing() = default;

  // Returns false (and drops the byte) when full.
  constexpr bool Push(uint8_t byte) {
    if (size() == Capacity) return false;
    bytes_[tail_++ % Capacity] = byte;
    return true;
  }

  constexpr bool Pop(uint8_t* byte) {
    if (empty()) return false;
    *byte = bytes_[head_++ % Capacity];
    return true;
  }

  constexpr size_t size() const { return static_cast<size_t>(tail_ - head_); }
  constexpr bool empty() const { return head_ == tail_; }

 private:
  uint8_t bytes_[Capacity] = {};
  uint64_t head_ = 0;  // free-running: never wraps in practice
  uint64_t tail_ = 0;
};

}  // namespace testsvc::kernel
