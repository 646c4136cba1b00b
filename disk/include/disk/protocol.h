// The arbiter's wire protocol: one request line, one reply line, plain ASCII, so that `nc` is
// a usable client. See docs/arbiter.md.
//
//   TAS <vm-id> <generation> <side> <incarnation>
//                                     ->  WON <generation> | LOST <winner-side> <generation>
//   QUERY <vm-id>                     ->  WINNER <side> <generation> | NONE
//   PING                              ->  PONG
//   anything malformed                ->  ERR <message>   (and the server closes the connection)
//
// Generations are unsigned 64-bit decimals without leading zeros. Lines end with '\n'; the
// parsers take a line without it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "vmm/result.h"

namespace ftvm::disk {

// The longest line either side accepts, '\n' included.
inline constexpr size_t kMaxLineBytes = 256;

struct TasRequest {
  std::string vm_id;
  uint64_t generation = 0;
  std::string side;
  // The asking process (names.h): a win is that process's, not any process's of the same side.
  std::string incarnation;
  bool operator==(const TasRequest&) const = default;
};
struct QueryRequest {
  std::string vm_id;
  bool operator==(const QueryRequest&) const = default;
};
struct PingRequest {
  bool operator==(const PingRequest&) const = default;
};
using Request = std::variant<TasRequest, QueryRequest, PingRequest>;

struct WonReply {
  uint64_t generation = 0;
  bool operator==(const WonReply&) const = default;
};
struct LostReply {
  std::string winner;
  uint64_t generation = 0;  // the winner's generation: higher than asked for when stale
  bool operator==(const LostReply&) const = default;
};
struct WinnerReply {
  std::string side;
  uint64_t generation = 0;
  bool operator==(const WinnerReply&) const = default;
};
struct NoneReply {
  bool operator==(const NoneReply&) const = default;
};
struct PongReply {
  bool operator==(const PongReply&) const = default;
};
struct ErrReply {
  std::string message;  // printable ASCII, no line break
  bool operator==(const ErrReply&) const = default;
};
using Reply = std::variant<WonReply, LostReply, WinnerReply, NoneReply, PongReply, ErrReply>;

// Decoders of bytes from outside: every malformed line is an error, never a crash.
Result<Request> parse_request(std::string_view line);
Result<Reply> parse_reply(std::string_view line);

// Encoders, '\n' included. parse(format(x)) == x for every valid x.
std::string format_request(const Request& request);
std::string format_reply(const Reply& reply);

}  // namespace ftvm::disk
