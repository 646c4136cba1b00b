#include "wire.h"

#include <fmt/format.h>

#include <algorithm>

namespace ftvm::channel {

Result<void> check_field(const char* message, const char* field, size_t value, size_t max,
                         const char* unit) {
  if (value <= max) return {};
  const std::string suffix = *unit == '\0' ? std::string() : std::string(" ") + unit;
  return make_error(fmt::format("the {} message's {} is {}{}, over the maximum of {}{}", message,
                                field, value, suffix, max, suffix));
}

void put_byte_string(std::vector<uint8_t>& out, std::span<const uint8_t> bytes) {
  put_le(out, static_cast<uint32_t>(bytes.size()));
  out.insert(out.end(), bytes.begin(), bytes.end());
}

std::vector<uint8_t> WireReader::byte_string(const char* field, size_t max_bytes) {
  const uint32_t length = u32(field);
  if (error_) return {};
  if (length > max_bytes) {
    fail(fmt::format("field {}: length {} is over the maximum of {} bytes", field, length,
                     max_bytes));
    return {};
  }
  // Checked before allocating: a length that the payload cannot hold is not trusted.
  if (!take(length, field)) return {};
  const auto* start = bytes_.data() + offset_ - length;
  return {start, start + length};
}

std::string WireReader::text(const char* field, size_t max_bytes) {
  const std::vector<uint8_t> bytes = byte_string(field, max_bytes);
  return {bytes.begin(), bytes.end()};
}

void WireReader::bytes(const char* field, std::span<uint8_t> out) {
  if (!take(out.size(), field)) return;
  std::copy_n(bytes_.data() + offset_ - out.size(), out.size(), out.begin());
}

void WireReader::reject(const char* field, const std::string& why) {
  fail(fmt::format("field {} {}", field, why));
}

Result<void> WireReader::finish() {
  if (!error_ && offset_ != bytes_.size()) {
    fail(fmt::format("{} bytes are left over after the last field", bytes_.size() - offset_));
  }
  if (error_) return make_error(fmt::format("malformed {} message: {}", message_, *error_));
  return {};
}

bool WireReader::take(size_t count, const char* field) {
  if (error_) return false;
  if (bytes_.size() - offset_ < count) {
    fail(fmt::format("the payload ends in field {} (it needs {} bytes at offset {}, {} are left)",
                     field, count, offset_, bytes_.size() - offset_));
    return false;
  }
  offset_ += count;
  return true;
}

void WireReader::fail(std::string reason) {
  if (!error_) error_ = std::move(reason);
}

}  // namespace ftvm::channel
