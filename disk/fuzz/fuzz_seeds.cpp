// Valid inputs for the fuzz body: every request and reply, a conversation, a state file.
#include <algorithm>
#include <string>

#include "disk/line_auth.h"
#include "fuzz_bodies.h"

namespace ftvm::disk {
namespace {

std::vector<uint8_t> seed(uint8_t mode, const std::string& text) {
  std::vector<uint8_t> bytes(text.size() + 1);
  bytes[0] = mode;
  std::copy(text.begin(), text.end(), bytes.begin() + 1);
  return bytes;
}

}  // namespace

std::vector<std::vector<uint8_t>> protocol_fuzz_seeds() {
  return {
      seed(0, "TAS vm-1.a_B 7 backup 0123456789abcdef"),
      seed(0, "TAS x 18446744073709551615 primary 00000000"),
      seed(0, "QUERY vm-1"),
      seed(0, "PING"),
      seed(1, "WON 7"),
      seed(1, "LOST backup 9"),
      seed(1, "WINNER primary 0"),
      seed(1, "NONE"),
      seed(1, "PONG"),
      seed(1, "ERR generation 3 has superseded 2"),
      seed(2, "PING\nTAS vm 1 backup 0123abcd\r\nQUERY vm\nTAS vm 2 prim"),
      seed(3, "ftvm-arbiter-state 1\nvm a 1 backup\nvm b.2 18446744073709551615 primary\n"),
      seed(3, "ftvm-arbiter-state 2\nvm a 1 backup 0123456789abcdef\nvm b 2 primary\n"),
      seed(4, sign_request(fuzz_arbiter_key(), "TAS vm 3 backup 0123456789abcdef")),
      seed(4, sign_reply(fuzz_arbiter_key(), "PING", "PONG")),
  };
}

}  // namespace ftvm::disk
