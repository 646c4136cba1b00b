#include "byte_io.h"

#include <fmt/format.h>

namespace ftvm::replay {

void put_u8(std::vector<uint8_t>& out, uint8_t value) {
  out.push_back(value);
}

void put_u16(std::vector<uint8_t>& out, uint16_t value) {
  for (int shift = 0; shift < 16; shift += 8) out.push_back(static_cast<uint8_t>(value >> shift));
}

void put_u32(std::vector<uint8_t>& out, uint32_t value) {
  for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<uint8_t>(value >> shift));
}

void put_u64(std::vector<uint8_t>& out, uint64_t value) {
  for (int shift = 0; shift < 64; shift += 8) out.push_back(static_cast<uint8_t>(value >> shift));
}

void put_varint(std::vector<uint8_t>& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<uint8_t>(value | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<uint8_t>(value));
}

void put_zigzag(std::vector<uint8_t>& out, int64_t value) {
  put_varint(out, zigzag_encode(value));
}

void put_bytes(std::vector<uint8_t>& out, std::span<const uint8_t> bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}

void put_blob(std::vector<uint8_t>& out, std::span<const uint8_t> bytes) {
  put_varint(out, bytes.size());
  put_bytes(out, bytes);
}

void put_string(std::vector<uint8_t>& out, std::string_view text) {
  put_blob(out, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

size_t varint_size(uint64_t value) {
  size_t size = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++size;
  }
  return size;
}

uint16_t load_u16(const uint8_t* bytes) {
  return static_cast<uint16_t>(bytes[0] | (bytes[1] << 8));
}

uint32_t load_u32(const uint8_t* bytes) {
  uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | bytes[i];
  return value;
}

uint64_t load_u64(const uint8_t* bytes) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | bytes[i];
  return value;
}

void store_u16(uint8_t* bytes, uint16_t value) {
  for (int i = 0; i < 2; ++i) bytes[i] = static_cast<uint8_t>(value >> (8 * i));
}

void store_u32(uint8_t* bytes, uint32_t value) {
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<uint8_t>(value >> (8 * i));
}

void store_u64(uint8_t* bytes, uint64_t value) {
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<uint8_t>(value >> (8 * i));
}

bool ByteReader::require(size_t count, const char* what) {
  if (!ok()) return false;
  if (count > remaining()) {
    fail(fmt::format("truncated {}: needs {} bytes, only {} left", what, count, remaining()));
    return false;
  }
  return true;
}

uint8_t ByteReader::u8(const char* what) {
  if (!require(1, what)) return 0;
  return bytes_[offset_++];
}

uint32_t ByteReader::u32(const char* what) {
  if (!require(4, what)) return 0;
  uint32_t value = load_u32(&bytes_[offset_]);
  offset_ += 4;
  return value;
}

uint64_t ByteReader::u64(const char* what) {
  if (!require(8, what)) return 0;
  uint64_t value = load_u64(&bytes_[offset_]);
  offset_ += 8;
  return value;
}

uint64_t ByteReader::varint(const char* what) {
  constexpr size_t kMaxVarintBytes = 10;  // ceil(64 / 7)
  const size_t start = offset_;
  uint64_t value = 0;
  for (size_t i = 0; i < kMaxVarintBytes; ++i) {
    if (!require(1, what)) return 0;
    const uint8_t byte = bytes_[offset_++];
    const unsigned shift = static_cast<unsigned>(7 * i);
    if (i == kMaxVarintBytes - 1 && byte > 1) {
      offset_ = start;
      fail(fmt::format("{} does not fit in 64 bits", what));
      return 0;
    }
    value |= uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) {
      if (byte == 0 && i > 0) {
        offset_ = start;
        fail(fmt::format("{} is not in its shortest varint form", what));
        return 0;
      }
      return value;
    }
  }
  offset_ = start;
  fail(fmt::format("{} is longer than a 64-bit varint", what));
  return 0;
}

int64_t ByteReader::zigzag(const char* what) {
  return zigzag_decode(varint(what));
}

std::span<const uint8_t> ByteReader::bytes(size_t count, const char* what) {
  if (!require(count, what)) return {};
  auto result = bytes_.subspan(offset_, count);
  offset_ += count;
  return result;
}

std::span<const uint8_t> ByteReader::blob(size_t max_bytes, const char* what) {
  const size_t start = offset_;
  const uint64_t length = varint(what);
  if (!ok()) return {};
  if (length > max_bytes) {
    offset_ = start;
    fail(fmt::format("{} is {} bytes, more than the maximum {}", what, length, max_bytes));
    return {};
  }
  return bytes(static_cast<size_t>(length), what);
}

std::string ByteReader::string(size_t max_bytes, const char* what) {
  auto raw = blob(max_bytes, what);
  return {raw.begin(), raw.end()};
}

void ByteReader::fail(std::string message) {
  if (ok()) error_ = fmt::format("at byte {}: {}", message_base_ + offset_, message);
}

}  // namespace ftvm::replay
