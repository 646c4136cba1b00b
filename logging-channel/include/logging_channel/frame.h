// Frames: how messages travel on the logging channel's byte stream (docs/protocol.md,
// "Frames"). Each frame is a 20-byte header, the message payload and a 32-byte tag:
//
//   offset  size  field
//        0     4  magic "FTLC"
//        4     1  frame version (kFrameVersion)
//        5     1  message type (MessageType)
//        6     2  flags: bit 0 = authenticated (the tag is an HMAC); no other bit is defined
//        8     4  payload length P
//       12     8  sequence number: frames sent before this one on this connection, this way
//       20     P  payload (message_codec.h)
//     20+P    32  tag over bytes 0..20+P-1: HMAC-SHA256 with the key when authenticated,
//                 else xxh3-128 (low 64 bits, then high 64 bits, little-endian) and 16 zeros
//
// The sequence number inside the tagged bytes is what makes a replayed, dropped or reordered
// frame detectable even by a peer that cannot forge tags.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "logging_channel/frame_key.h"
#include "logging_channel/message_codec.h"
#include "logging_channel/messages.h"
#include "vmm/result.h"

namespace ftvm::channel {

inline constexpr uint8_t kFrameVersion = 1;
inline constexpr size_t kFrameHeaderBytes = 20;
inline constexpr size_t kFrameTagBytes = 32;
inline constexpr uint16_t kFrameFlagAuthenticated = 1;
// Enough for a maximal Hello or LogChunk.
inline constexpr size_t kMaxFramePayloadBytes = kMaxMessagePayloadBytes;
inline constexpr size_t kMaxFrameBytes = kFrameHeaderBytes + kMaxFramePayloadBytes + kFrameTagBytes;

// One direction of one connection: the sequence numbers restart at 0 on each connection.
class FrameEncoder {
 public:
  explicit FrameEncoder(FrameKey key);

  // The whole frame for `m`, numbered after the frames encoded before it. `m` must be within
  // its bounds (check_bounds).
  std::vector<uint8_t> encode(const Message& m);
  // Frames encoded so far: the sequence number of the next.
  uint64_t frames() const { return frames_; }
  // The frames from now on are tagged with `key` (after the greeting, handshake.h). It must be
  // keyed exactly when the old key was: the frames' authenticated flag cannot change.
  void rekey(FrameKey key);

 private:
  FrameKey key_;
  uint64_t frames_ = 0;
};

// Reads frames from a growing byte stream. Nothing from a frame is returned before its tag was
// verified; the header fields that decide how to read the rest (magic, version, length,
// flags) are checked as soon as they arrive, so garbage or an oversize length is reported at
// once instead of waiting for bytes that will not come.
class FrameDecoder {
 public:
  explicit FrameDecoder(FrameKey key);

  void feed(std::span<const uint8_t> bytes);
  // The next message, or std::nullopt until more bytes are fed. The first error is final:
  // the stream cannot be trusted after it, so every later call returns the same error.
  Result<std::optional<Message>> next();
  // Frames decoded so far: the sequence number expected next.
  uint64_t frames() const { return frames_; }
  // Bytes fed but not yet consumed by a decoded frame.
  size_t buffered_bytes() const { return buffer_.size() - consumed_; }
  // The frames decoded from now on are checked with `key` (after the greeting, handshake.h).
  // Bytes already fed are checked with it too, since nothing is verified before next().
  void rekey(FrameKey key);

 private:
  Result<std::optional<Message>> decode_front();
  std::span<const uint8_t> unconsumed() const;
  void compact();

  FrameKey key_;
  std::vector<uint8_t> buffer_;
  size_t consumed_ = 0;
  uint64_t frames_ = 0;
  std::optional<Error> error_;
};

}  // namespace ftvm::channel
