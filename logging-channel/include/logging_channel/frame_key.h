// The shared secret that authenticates frames (HMAC-SHA256), or none for an unkeyed channel
// that is restricted to loopback.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "vmm/result.h"

namespace ftvm::channel {

// Shorter keys are refused: they would make HMAC guessable.
inline constexpr size_t kMinKeyBytes = 16;
// A larger file is almost certainly not a key file.
inline constexpr size_t kMaxKeyBytes = 64 * 1024;

class FrameKey {
 public:
  static FrameKey none();
  // Reads the whole file as the key (every byte counts, a trailing newline included, so both
  // peers must use the same file). Errors name the path.
  static Result<FrameKey> from_file(const std::string& path);
  // from_file, or none for an empty path (an option that was not given).
  static Result<FrameKey> from_file_or_none(const std::string& path);
  // For tests and tools that already hold the bytes.
  static Result<FrameKey> from_bytes(std::span<const uint8_t> bytes);

  FrameKey(const FrameKey& other) = default;
  FrameKey& operator=(const FrameKey& other);
  FrameKey(FrameKey&& other) noexcept = default;
  FrameKey& operator=(FrameKey&& other) noexcept;
  // Wipes the key so it does not linger in freed memory.
  ~FrameKey();

  bool authenticated() const { return !bytes_.empty(); }
  std::span<const uint8_t> bytes() const { return bytes_; }

 private:
  FrameKey() = default;
  void wipe();

  std::vector<uint8_t> bytes_;
};

}  // namespace ftvm::channel
