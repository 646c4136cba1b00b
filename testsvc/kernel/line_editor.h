// Turns received console bytes into command lines. Pure and header-only.
//
// There is no local echo: echoing keystrokes would put user input in the middle of status
// lines, which must stay whole. Rules:
//   - CR or LF ends a line (so CR LF yields the line, then an empty line);
//   - backspace (BS or DEL) removes the last kept character;
//   - TAB becomes a space, other control characters are ignored, bytes >= 0x80 become '?';
//   - characters past MaxBytes are dropped and the line is marked truncated.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace testsvc::kernel {

template <size_t MaxBytes>
class LineEditor {
 public:
  enum class Result { kPending, kLine };

  constexpr LineEditor() = default;

  // Feeds one byte. After kLine, line()/size()/truncated() describe the completed line until
  // the next Feed, which starts a new one.
  constexpr Result Feed(uint8_t byte) {
    if (complete_) {
      size_ = 0;
      truncated_ = false;
      complete_ = false;
    }
    if (byte == '\r' || byte == '\n') {
      complete_ = true;
      return Result::kLine;
    }
    if (byte == 0x08 || byte == 0x7f) {
      if (size_ > 0) --size_;
      return Result::kPending;
    }
    if (byte == '\t') byte = ' ';
    if (byte < 0x20) return Result::kPending;
    if (byte >= 0x80) byte = '?';
    if (size_ < MaxBytes) {
      buffer_[size_++] = static_cast<char>(byte);
    } else {
      truncated_ = true;
    }
    return Result::kPending;
  }

  constexpr const char* line() const { return buffer_; }
  constexpr size_t size() const { return size_; }
  constexpr bool truncated() const { return truncated_; }

 private:
  char buffer_[MaxBytes] = {};
  size_t size_ = 0;
  bool truncated_ = false;
  bool complete_ = false;
};

}  // namespace testsvc::kernel
