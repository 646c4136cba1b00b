// Authenticated arbiter lines (docs/arbiter.md, "Authentication"). With the pair's key, a
// side signs each request and the arbiter signs each reply: the request line is followed by
// one more word, the HMAC-SHA256 of the line in lowercase hex; the reply's HMAC covers the
// request it answers too, so a reply cannot be replayed to another request. A local process
// without the key can then neither claim a generation nor answer a side in the arbiter's name.
//
// An empty key means unkeyed: lines travel as they are (protocol.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "vmm/result.h"

namespace ftvm::disk {

inline constexpr size_t kLineMacHexBytes = 64;

// `request` without its '\n'; the result too.
std::string sign_request(std::span<const uint8_t> key, std::string_view request);
// The request inside a signed line, or why it is not one.
Result<std::string_view> open_request(std::span<const uint8_t> key, std::string_view line);

std::string sign_reply(std::span<const uint8_t> key, std::string_view request,
                       std::string_view reply);
// The reply inside a signed line answering `request` (as sent, unsigned).
Result<std::string_view> open_reply(std::span<const uint8_t> key, std::string_view request,
                                    std::string_view line);

}  // namespace ftvm::disk
