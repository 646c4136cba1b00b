// The opening of every logging-channel connection (docs/protocol.md, "The greeting"). Each side
// sends a Greeting with a fresh random nonce as frame 0, tagged with the pair's key; every later
// frame is tagged with a key derived from that key, both nonces and the direction. A frame
// recorded on an earlier connection, or sent by this side and reflected back, then fails its
// tag even though the pair's key and the sequence numbers are the same.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>

#include "logging_channel/frame.h"
#include "logging_channel/messages.h"
#include "vmm/result.h"

namespace ftvm::channel {

// A greeting from `self` with a nonce from the system's random generator.
Result<Greeting> make_greeting(ChannelRole self);

struct ConnectionKeys {
  FrameKey send;
  FrameKey receive;
};

// The keys for the rest of a connection on which this side sent `mine` and received `theirs`.
// Refuses a greeting from the same role or with this side's own nonce: a reflected greeting.
// Without a key (an unkeyed channel) both stay unkeyed: nothing is authenticated there.
Result<ConnectionKeys> connection_keys(const FrameKey& base, const Greeting& mine,
                                       const Greeting& theirs);

// Sends this side's greeting, waits up to `timeout` for the peer's and rekeys `encoder` and
// `decoder`, which must not have handled a frame yet. `buffer` is scratch space for reads;
// the byte counters grow by what crossed the socket.
struct GreetingIo {
  int fd = -1;
  ChannelRole self = ChannelRole::kPrimary;
  std::chrono::milliseconds timeout{0};
  std::span<uint8_t> buffer;
};
Result<void> exchange_greetings(const GreetingIo& io, const FrameKey& base, FrameEncoder& encoder,
                                FrameDecoder& decoder, uint64_t& bytes_sent, uint64_t& bytes_read);

}  // namespace ftvm::channel
