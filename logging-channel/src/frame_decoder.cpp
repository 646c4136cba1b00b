#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>

#include "frame_tag.h"
#include "logging_channel/frame.h"
#include "wire.h"

namespace ftvm::channel {
namespace {

constexpr uint8_t kMagic[] = {'F', 'T', 'L', 'C'};
constexpr size_t kTypeAt = 5;
constexpr size_t kFlagsAt = 6;
constexpr size_t kLengthAt = 8;
constexpr size_t kSequenceAt = 12;

struct FrameHeader {
  uint8_t version = 0;
  uint8_t type = 0;
  uint16_t flags = 0;
  uint32_t payload_bytes = 0;
  uint64_t sequence = 0;
};

FrameHeader read_header(const uint8_t* bytes) {
  return {bytes[4], bytes[kTypeAt], load_le<uint16_t>(bytes + kFlagsAt),
          load_le<uint32_t>(bytes + kLengthAt), load_le<uint64_t>(bytes + kSequenceAt)};
}

Result<void> check_magic(std::span<const uint8_t> bytes) {
  const size_t present = std::min(bytes.size(), sizeof(kMagic));
  // Nothing yet is no mismatch (and memcmp must not see the null data of an empty span).
  if (present == 0 || std::memcmp(bytes.data(), kMagic, present) == 0) return {};
  return make_error(fmt::format(
      "bad frame magic {:02x}: the peer is not an ftvm logging channel (is something else "
      "listening on that port?)",
      fmt::join(bytes.first(present), " ")));
}

Result<void> check_auth_mode(uint16_t flags, bool keyed, uint64_t frame) {
  const bool authenticated = (flags & kFrameFlagAuthenticated) != 0;
  if (keyed && !authenticated) {
    return make_error(
        fmt::format("frame {} is not authenticated but this side has a --key-file: the peer has no "
                    "--key-file; give both sides the same one",
                    frame));
  }
  if (!keyed && authenticated) {
    return make_error(fmt::format(
        "frame {} is authenticated but this side has no --key-file: give this side the same "
        "--key-file as the peer",
        frame));
  }
  return {};
}

// The checks that decide how the rest of the frame is read, made as soon as the header is
// in: an oversize length must fail now rather than leave the reader waiting for it.
Result<void> check_header(const FrameHeader& header, bool keyed, uint64_t frame) {
  if (header.version != kFrameVersion) {
    return make_error(fmt::format(
        "frame {} has frame version {}, this ftvm speaks version {}: run the same ftvm version "
        "on both hosts",
        frame, header.version, kFrameVersion));
  }
  if (header.payload_bytes > kMaxFramePayloadBytes) {
    return make_error(fmt::format(
        "frame {} claims a payload of {} bytes, over the maximum of {}: the stream is corrupt",
        frame, header.payload_bytes, kMaxFramePayloadBytes));
  }
  if ((header.flags & ~kFrameFlagAuthenticated) != 0) {
    return make_error(
        fmt::format("frame {} has unknown flags {:#06x}: the peer runs another ftvm version", frame,
                    header.flags));
  }
  return check_auth_mode(header.flags, keyed, frame);
}

Result<void> check_tag(const FrameKey& key, std::span<const uint8_t> frame, uint64_t number) {
  const auto covered = frame.first(frame.size() - kFrameTagBytes);
  const FrameTag expected = compute_tag(key, covered);
  if (tags_equal(expected, frame.last(kFrameTagBytes))) return {};
  if (key.authenticated()) {
    return make_error(fmt::format(
        "frame {}: authentication failed: the frame was altered or the peers use different "
        "--key-file",
        number));
  }
  return make_error(
      fmt::format("frame {}: checksum mismatch: the frame was corrupted on the way", number));
}

Result<void> check_sequence(uint64_t sequence, uint64_t expected) {
  if (sequence == expected) return {};
  return make_error(fmt::format("frame {} arrived where {} was expected: replayed or lost frame",
                                sequence, expected));
}

}  // namespace

FrameDecoder::FrameDecoder(FrameKey key) : key_(std::move(key)) {}

void FrameDecoder::rekey(FrameKey key) {
  key_ = std::move(key);
}

void FrameDecoder::feed(std::span<const uint8_t> bytes) {
  compact();
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

Result<std::optional<Message>> FrameDecoder::next() {
  if (error_) return *error_;
  auto step = decode_front();
  if (!step) error_ = step.error();
  return step;
}

Result<std::optional<Message>> FrameDecoder::decode_front() {
  const std::span<const uint8_t> bytes = unconsumed();
  if (auto ok = check_magic(bytes); !ok) return ok.error();
  if (bytes.size() < kFrameHeaderBytes) return std::optional<Message>();
  const FrameHeader header = read_header(bytes.data());
  if (auto ok = check_header(header, key_.authenticated(), frames_); !ok) return ok.error();

  const size_t total = kFrameHeaderBytes + header.payload_bytes + kFrameTagBytes;
  // No room is reserved for the claimed length: memory grows only with bytes that arrived.
  if (bytes.size() < total) return std::optional<Message>();
  const auto frame = bytes.first(total);
  if (auto ok = check_tag(key_, frame, frames_); !ok) return ok.error();
  if (auto ok = check_sequence(header.sequence, frames_); !ok) return ok.error();
  auto message =
      decode_payload(header.type, frame.subspan(kFrameHeaderBytes, header.payload_bytes));
  if (!message) {
    return make_error(fmt::format("frame {}: {}", frames_, message.error().message));
  }
  consumed_ += total;
  ++frames_;
  return std::optional<Message>(std::move(*message));
}

std::span<const uint8_t> FrameDecoder::unconsumed() const {
  return std::span<const uint8_t>(buffer_).subspan(consumed_);
}

// Drops decoded frames from the front. Done before appending, so each frame's bytes move at
// most once.
void FrameDecoder::compact() {
  if (consumed_ == 0) return;
  buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(consumed_));
  consumed_ = 0;
}

}  // namespace ftvm::channel
