// What the Redis service's host tests share: an output with a capacity, and requests written
// as redis-cli writes them (RESP arrays).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>

namespace testsvc::kernel::resp::testing {

// The output: a string with a capacity.
struct Output {
  std::string text;
  size_t capacity = 1 << 20;
  size_t Free() const { return capacity - text.size(); }
  void Write(const uint8_t* data, size_t size) {
    ASSERT_LE(size, Free());
    text.append(reinterpret_cast<const char*>(data), size);
  }
};

inline std::string Array(std::initializer_list<std::string> args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const std::string& arg : args)
    out += "$" + std::to_string(arg.size()) + "\r\n" + arg + "\r\n";
  return out;
}

}  // namespace testsvc::kernel::resp::testing
