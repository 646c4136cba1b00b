// Little-endian integers, LEB128 varints and length-prefixed blobs: the primitives of every
// encoding in docs/trace-format.md. Private to ftvm_replay_format.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ftvm::replay {

// Zigzag maps signed values to unsigned ones so small magnitudes of either sign stay short.
inline uint64_t zigzag_encode(int64_t value) {
  return (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63);
}
inline int64_t zigzag_decode(uint64_t value) {
  return static_cast<int64_t>(value >> 1) ^ -static_cast<int64_t>(value & 1);
}

// Differences computed modulo 2^64, so any pair of values (even INT64_MIN and INT64_MAX) has
// a delta and the decoder gets the value back exactly.
inline int64_t wrapping_delta(uint64_t value, uint64_t previous) {
  return static_cast<int64_t>(value - previous);
}
inline uint64_t wrapping_add(uint64_t previous, int64_t delta) {
  return previous + static_cast<uint64_t>(delta);
}

void put_u8(std::vector<uint8_t>& out, uint8_t value);
void put_u16(std::vector<uint8_t>& out, uint16_t value);
void put_u32(std::vector<uint8_t>& out, uint32_t value);
void put_u64(std::vector<uint8_t>& out, uint64_t value);
void put_varint(std::vector<uint8_t>& out, uint64_t value);
void put_zigzag(std::vector<uint8_t>& out, int64_t value);
void put_bytes(std::vector<uint8_t>& out, std::span<const uint8_t> bytes);
// Varint length, then the bytes.
void put_blob(std::vector<uint8_t>& out, std::span<const uint8_t> bytes);
void put_string(std::vector<uint8_t>& out, std::string_view text);

size_t varint_size(uint64_t value);

uint16_t load_u16(const uint8_t* bytes);
uint32_t load_u32(const uint8_t* bytes);
uint64_t load_u64(const uint8_t* bytes);
void store_u16(uint8_t* bytes, uint16_t value);
void store_u32(uint8_t* bytes, uint32_t value);
void store_u64(uint8_t* bytes, uint64_t value);

// Reads untrusted bytes. Errors are sticky: the first failure is recorded with its offset,
// every later read returns zero or empty without touching memory, and the caller checks ok()
// once per record. That keeps decoders linear without a check after every field. `what`
// names the field, for the error message.
class ByteReader {
 public:
  // Reads `bytes` from offset `start`. Error messages count offsets from `message_base`, so a
  // decoder of one part of a stream can name the byte's offset in the whole stream.
  explicit ByteReader(std::span<const uint8_t> bytes, size_t start = 0, uint64_t message_base = 0)
      : bytes_(bytes), offset_(start), message_base_(message_base) {}

  uint8_t u8(const char* what);
  uint32_t u32(const char* what);
  uint64_t u64(const char* what);
  // Rejects varints longer than 10 bytes, overflowing 64 bits, or not in their shortest form,
  // so every value has exactly one encoding (decode-then-encode gives the same bytes).
  uint64_t varint(const char* what);
  int64_t zigzag(const char* what);
  std::span<const uint8_t> bytes(size_t count, const char* what);
  // A varint length of at most `max_bytes`, then that many bytes.
  std::span<const uint8_t> blob(size_t max_bytes, const char* what);
  std::string string(size_t max_bytes, const char* what);

  // Records an error at the current offset (unless one is already recorded).
  void fail(std::string message);

  bool ok() const { return error_.empty(); }
  // "at byte N: what went wrong", N counted from `message_base`.
  const std::string& error() const { return error_; }
  size_t offset() const { return offset_; }
  size_t remaining() const { return bytes_.size() - offset_; }
  bool at_end() const { return offset_ == bytes_.size(); }

 private:
  bool require(size_t count, const char* what);

  std::span<const uint8_t> bytes_;
  size_t offset_ = 0;
  uint64_t message_base_ = 0;
  std::string error_;
};

}  // namespace ftvm::replay
