// Number formatting and a fixed-size line builder, without libc.
//
// Pure and header-only: compiled into the freestanding guest and into host unit tests.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace testsvc::kernel {

inline constexpr size_t kMaxDecimalDigits = 20;  // UINT64_MAX
inline constexpr size_t kMaxHexDigits = 16;

// Writes `value` in decimal to `out`, which has room for kMaxDecimalDigits. Returns the number
// of characters written (no terminating NUL).
constexpr size_t FormatDecimal(uint64_t value, char* out) {
  char reversed[kMaxDecimalDigits] = {};
  size_t n = 0;
  do {
    reversed[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  for (size_t i = 0; i < n; ++i) out[i] = reversed[n - 1 - i];
  return n;
}

// Writes `value` in lowercase hex to `out` (room for kMaxHexDigits), zero-padded to at least
// `min_digits` (clamped to 1..16). Returns the number of characters written.
constexpr size_t FormatHex(uint64_t value, size_t min_digits, char* out) {
  if (min_digits < 1) min_digits = 1;
  if (min_digits > kMaxHexDigits) min_digits = kMaxHexDigits;
  size_t digits = 1;
  while (digits < kMaxHexDigits && (value >> (4 * digits)) != 0) ++digits;
  if (digits < min_digits) digits = min_digits;
  for (size_t i = 0; i < digits; ++i) {
    const unsigned nibble = (value >> (4 * (digits - 1 - i))) & 0xf;
    out[i] = static_cast<char>(nibble < 10 ? '0' + nibble : 'a' + (nibble - 10));
  }
  return digits;
}

constexpr size_t StringLength(const char* s) {
  size_t n = 0;
  while (s[n] != '\0') ++n;
  return n;
}

// Builds one line of at most Capacity characters. Appends past the end are dropped and
// remembered (truncated()), so formatting can never overflow a buffer.
template <size_t Capacity>
class LineBuilder {
 public:
  constexpr LineBuilder() = default;

  constexpr LineBuilder& Append(const char* text, size_t size) {
    for (size_t i = 0; i < size; ++i) AppendChar(text[i]);
    return *this;
  }
  constexpr LineBuilder& Append(const char* text) { return Append(text, StringLength(text)); }

  constexpr LineBuilder& AppendChar(char c) {
    if (size_ < Capacity) {
      buffer_[size_++] = c;
    } else {
      truncated_ = true;
    }
    return *this;
  }

  constexpr LineBuilder& AppendDecimal(uint64_t value) {
    char digits[kMaxDecimalDigits] = {};
    return Append(digits, FormatDecimal(value, digits));
  }

  // Zero-padded to `width` digits (for dates and times).
  constexpr LineBuilder& AppendDecimalPadded(uint64_t value, size_t width) {
    char digits[kMaxDecimalDigits] = {};
    const size_t n = FormatDecimal(value, digits);
    for (size_t i = n; i < width; ++i) AppendChar('0');
    return Append(digits, n);
  }

  // Lowercase, zero-padded to at least `min_digits`, no "0x" prefix.
  constexpr LineBuilder& AppendHex(uint64_t value, size_t min_digits = 1) {
    char digits[kMaxHexDigits] = {};
    return Append(digits, FormatHex(value, min_digits, digits));
  }

  constexpr const char* data() const { return buffer_; }
  constexpr size_t size() const { return size_; }
  constexpr bool truncated() const { return truncated_; }

 private:
  char buffer_[Capacity] = {};
  size_t size_ = 0;
  bool truncated_ = false;
};

}  // namespace testsvc::kernel
