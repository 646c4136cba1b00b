#include <xxhash.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "disk/arbiter_state.h"
#include "disk/etcd_arbiter.h"
#include "disk/line_auth.h"
#include "disk/line_framer.h"
#include "disk/nbd_session.h"
#include "disk/protocol.h"
#include "fuzz_bodies.h"

namespace ftvm::disk {
namespace {

void require(bool condition, const char* property) {
  if (condition) return;
  std::fprintf(stderr, "fuzz property violated: %s\n", property);
  std::abort();
}

void check_request(std::string_view line) {
  auto request = parse_request(line);
  if (!request) {
    require(!request.error().message.empty(), "errors say something");
    return;
  }
  const std::string formatted = format_request(*request);
  require(formatted == std::string(line) + "\n", "a parsed request formats to the same line");
}

void check_reply(std::string_view line) {
  auto reply = parse_reply(line);
  if (!reply) {
    require(!reply.error().message.empty(), "errors say something");
    return;
  }
  require(format_reply(*reply) == std::string(line) + "\n", "a parsed reply formats the same");
}

// A signed line that opens must be one the fuzz key signed, and re-sign to the same.
void check_signed(std::string_view line) {
  const auto kFuzzKey = fuzz_arbiter_key();
  auto request = open_request(kFuzzKey, line);
  if (request) {
    require(sign_request(kFuzzKey, *request) == line, "an opened request re-signs the same");
    check_request(*request);
  } else {
    require(!request.error().message.empty(), "errors say something");
  }
  const std::string_view asked = "PING";
  auto reply = open_reply(kFuzzKey, asked, line);
  if (reply) require(sign_reply(kFuzzKey, asked, *reply) == line, "an opened reply re-signs");
}

// etcd's answers to the arbiter's transaction and range: never a win for another side.
void check_etcd(std::string_view body) {
  const TasClaim claim{"vm", 3, "backup", "00000000000000b1"};
  auto outcome = parse_etcd_txn_response(body, claim);
  if (outcome) {
    require(!outcome->won || outcome->winner == claim.side, "a win is the claim's own");
  } else {
    require(!outcome.error().message.empty(), "errors say something");
  }
  auto winner = parse_etcd_range_response(body, "vm");
  if (!winner) require(!winner.error().message.empty(), "errors say something");
}

// A whole NBD connection's client bytes, fed in pieces whose sizes come from the input: the
// session never holds more than one maximal request, and every request it hands out is
// checked and answered without touching memory it does not own.
void check_nbd(std::string_view bytes) {
  NbdSession session({{"vol", 1 << 20, false}, {"ro", 4096, true}});
  size_t at = 0;
  size_t output = session.take_output().size();
  while (at < bytes.size()) {
    const size_t piece = 1 + static_cast<unsigned char>(bytes[at]) % 128;
    const auto chunk = bytes.substr(at, piece);
    session.feed(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(chunk.data()), chunk.size()));
    at += piece;
    for (;;) {
      auto request = session.next_request();
      if (!request) {
        require(!request.error().message.empty(), "errors say something");
        return;
      }
      if (!*request) break;
      const nbd::Errno error = session.check(**request);
      const std::vector<uint8_t> data(
          error == nbd::kOk && (*request)->type == nbd::kCmdRead ? (*request)->length : 0);
      const auto reply = session.reply(**request, error, data, "fuzz");
      require(reply.size() >= 16, "a reply has its header");
    }
    output += session.take_output().size();
    require(session.buffered_bytes() <= nbd::kRequestHeaderBytes + NbdSession::kMaxPayloadBytes +
                                            NbdSession::kMaxOptionBytes + 128,
            "the session's buffer stays bounded");
  }
  require(output < bytes.size() * 64 + 4096, "output grows with input, not without bound");
}

void check_framer(std::string_view bytes) {
  LineFramer framer;
  size_t at = 0;
  while (at < bytes.size()) {
    const size_t piece = 1 + static_cast<unsigned char>(bytes[at]) % 64;
    framer.feed(bytes.substr(at, piece));
    at += piece;
    for (;;) {
      auto line = framer.next_line();
      if (!line) return;  // over-long: the connection would close here
      if (!*line) break;
      require((*line)->find('\n') == std::string::npos, "lines hold no newline");
      require((*line)->size() < kMaxLineBytes, "lines fit the limit");
      check_request(**line);
    }
    require(framer.pending_bytes() < kMaxLineBytes, "the framer's buffer stays bounded");
  }
}

void check_state(std::string_view body) {
  std::string text(body);
  char checksum[40];
  std::snprintf(checksum, sizeof checksum, "checksum %016llx\n",
                static_cast<unsigned long long>(XXH3_64bits(text.data(), text.size())));
  text += checksum;
  auto state = decode_state(text);
  if (!state) {
    require(!state.error().message.empty(), "errors say something");
    return;
  }
  auto again = decode_state(encode_state(*state));
  require(again.ok() && *again == *state, "a decoded state survives encoding");
}

}  // namespace

std::span<const uint8_t> fuzz_arbiter_key() {
  static constexpr uint8_t kKey[16] = {'f', 'u', 'z', 'z', '-', 'a', 'r', 'b',
                                       'i', 't', 'e', 'r', '-', 'k', 'e', 'y'};
  return kKey;
}

int fuzz_protocol(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 7) {
    case 0:
      check_request(rest);
      break;
    case 1:
      check_reply(rest);
      break;
    case 2:
      check_framer(rest);
      break;
    case 4:
      check_signed(rest);
      break;
    case 5:
      check_nbd(rest);
      break;
    case 6:
      check_etcd(rest);
      break;
    default:
      check_state(rest);
  }
  return 0;
}

}  // namespace ftvm::disk
