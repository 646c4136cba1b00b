// The body of the arbiter's libFuzzer target, as a plain function: the libFuzzer entry point
// calls it, and a unit test runs it over a deterministic corpus so builds without clang
// exercise it too. It returns 0, and aborts if the code under test breaks a property.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace ftvm::disk {

// The first byte picks what the rest is fed to:
//   0: parse_request; a request that parses must format back to the same line;
//   1: parse_reply, likewise;
//   2: a LineFramer, fed in pieces whose sizes come from the input, each line to
//      parse_request; no line may hold a '\n' or pass the length limit;
//   3: decode_state, after appending a valid checksum line so mutations reach the entries; a
//      decoded state must survive encode and decode unchanged;
//   4: open_request and open_reply (answering PING) with fuzz_arbiter_key(); a line that
//      opens must re-sign to the same line, and an opened request is parsed as in 0;
//   5: an NbdSession, fed a client's bytes in pieces whose sizes come from the input; every
//      request it yields is checked and answered; its buffer stays bounded;
//   6: parse_etcd_txn_response and parse_etcd_range_response (etcd's answers); a win must be
//      the claim's own side, an error must say something.
int fuzz_protocol(const uint8_t* data, size_t size);

// The key the fuzz body signs and checks with.
std::span<const uint8_t> fuzz_arbiter_key();

// Valid inputs to start mutating from, with their mode byte.
std::vector<std::vector<uint8_t>> protocol_fuzz_seeds();

}  // namespace ftvm::disk
