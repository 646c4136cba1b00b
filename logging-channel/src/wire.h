// Little-endian fields and u32-length-prefixed byte strings of message payloads. Private to
// ftvm_channel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vmm/result.h"

namespace ftvm::channel {

// A field's size (or a count, `unit` empty) against its bound, before anything is encoded or
// allocated: "the MESSAGE message's FIELD is N UNIT, over the maximum of M UNIT".
Result<void> check_field(const char* message, const char* field, size_t value, size_t max,
                         const char* unit = "bytes");

template <typename T>
void put_le(std::vector<uint8_t>& out, T value) {
  for (size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

template <typename T>
T load_le(const uint8_t* bytes) {
  T value = 0;
  for (size_t i = 0; i < sizeof(T); ++i)
    value |= static_cast<T>(static_cast<T>(bytes[i]) << (8 * i));
  return value;
}

template <typename T>
void store_le(uint8_t* bytes, T value) {
  for (size_t i = 0; i < sizeof(T); ++i) bytes[i] = static_cast<uint8_t>(value >> (8 * i));
}

void put_byte_string(std::vector<uint8_t>& out, std::span<const uint8_t> bytes);

// Reads one payload of untrusted bytes. The first failure is kept and later reads return
// zero or empty without touching memory, so a decoder reads every field and checks once.
// Error messages name the message and the field.
class WireReader {
 public:
  WireReader(std::span<const uint8_t> bytes, const char* message)
      : bytes_(bytes), message_(message) {}

  uint8_t u8(const char* field) { return fixed<uint8_t>(field); }
  uint16_t u16(const char* field) { return fixed<uint16_t>(field); }
  uint32_t u32(const char* field) { return fixed<uint32_t>(field); }
  uint64_t u64(const char* field) { return fixed<uint64_t>(field); }
  std::vector<uint8_t> byte_string(const char* field, size_t max_bytes);
  std::string text(const char* field, size_t max_bytes);
  // Exactly out.size() bytes into `out` (left zero on failure).
  void bytes(const char* field, std::span<uint8_t> out);
  // A field that was read whole but holds a value the message does not allow.
  void reject(const char* field, const std::string& why);

  // Whether every read so far succeeded.
  bool ok() const { return !error_.has_value(); }
  // The error of the first failed read, or of bytes left over after the last field.
  Result<void> finish();

 private:
  template <typename T>
  T fixed(const char* field) {
    if (!take(sizeof(T), field)) return 0;
    return load_le<T>(bytes_.data() + offset_ - sizeof(T));
  }
  bool take(size_t count, const char* field);
  void fail(std::string reason);

  std::span<const uint8_t> bytes_;
  const char* message_;
  size_t offset_ = 0;
  std::optional<std::string> error_;
};

}  // namespace ftvm::channel
