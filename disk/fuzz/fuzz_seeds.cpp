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

// A client's side of an NBD connection: flags, structured replies, GO, then a write, a read,
// a flush and a disconnect. The fuzz body cuts it into pieces whose sizes come from the bytes
// themselves; every piece arrives, so the stream is whole either way.
std::string nbd_client_stream() {
  std::vector<uint8_t> out;
  auto be = [&out](uint64_t value, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
  };
  be(3, 4);
  be(0x49484156454f5054, 8), be(8, 4), be(0, 4);            // STRUCTURED_REPLY
  be(0x49484156454f5054, 8), be(7, 4), be(9, 4), be(3, 4);  // GO "vol"
  out.insert(out.end(), {'v', 'o', 'l'});
  be(0, 2);
  be(0x25609513, 4), be(1, 2), be(1, 2), be(1, 8), be(512, 8), be(4, 4);  // WRITE FUA
  out.insert(out.end(), {'d', 'a', 't', 'a'});
  be(0x25609513, 4), be(0, 2), be(0, 2), be(2, 8), be(0, 8), be(16, 4);  // READ
  be(0x25609513, 4), be(0, 2), be(3, 2), be(3, 8), be(0, 8), be(0, 4);   // FLUSH
  be(0x25609513, 4), be(0, 2), be(2, 2), be(4, 8), be(0, 8), be(0, 4);   // DISC
  return std::string(out.begin(), out.end());
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
      seed(5, nbd_client_stream()),
      // etcd 3.4's answers: a won transaction, a lost one (no "succeeded"), a range.
      seed(6, R"({"header":{"revision":"5"},"succeeded":true,"responses":[{"response_put":{}}]})"),
      seed(6,
           R"({"header":{"revision":"6"},"responses":[{"response_range":{"kvs":[{"key":)"
           R"("ZnR2bS92bS8z","create_revision":"5","value":"cHJpbWFyeSAwMDAwMDAwMDAwMDAwMGEx"}],)"
           R"("count":"1"}}]})"),
      seed(6, R"({"kvs":[{"key":"ZnR2bS92bS8z","value":"YmFja3VwIGI="}],"count":"1"})"),
  };
}

}  // namespace ftvm::disk
