// The 32-byte tag that ends every frame. Private to ftvm_channel.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "logging_channel/frame.h"

namespace ftvm::channel {

using FrameTag = std::array<uint8_t, kFrameTagBytes>;

// HMAC-SHA256 of `covered` with the key, or, without one, xxh3-128 and 16 zero bytes: a
// checksum that catches corruption but not forgery, which is why unkeyed channels stay on
// loopback.
FrameTag compute_tag(const FrameKey& key, std::span<const uint8_t> covered);

// Constant time, so a forger cannot learn the tag byte by byte from how long rejection takes.
bool tags_equal(std::span<const uint8_t> a, std::span<const uint8_t> b);

}  // namespace ftvm::channel
