// x86 port I/O. Every access is a VM exit: a deterministic point in the instruction stream.
#pragma once

#include <stdint.h>

namespace testsvc::kernel {

inline void Outb(uint16_t port, uint8_t value) {
  asm volatile("outb %0, %1" : : "a"(value), "Nd"(port) : "memory");
}

inline void Outl(uint16_t port, uint32_t value) {
  asm volatile("outl %0, %1" : : "a"(value), "Nd"(port) : "memory");
}

inline uint8_t Inb(uint16_t port) {
  uint8_t value;
  asm volatile("inb %1, %0" : "=a"(value) : "Nd"(port) : "memory");
  return value;
}

}  // namespace testsvc::kernel
