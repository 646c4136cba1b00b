// A state transfer over a TCP connection of its own, framed and tagged as the logging channel
// is (docs/protocol.md, "Frames" and "The greeting"): the sender speaks as the primary, the
// receiver as the backup, each greets with a fresh nonce, and with a key every frame after the
// greetings is authenticated for this connection and direction only. Used where a transfer runs
// apart from a link: scripts/bench/state-transfer and its tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "logging_channel/frame.h"
#include "logging_channel/frame_key.h"
#include "logging_channel/messages.h"
#include "pair/state_receiver.h"
#include "vmm/result.h"
#include "vmm/unique_fd.h"

namespace ftvm {

class StateStreamSender {
 public:
  // Greets the receiver on `socket` (connected) and waits up to `timeout` for its greeting.
  static Result<StateStreamSender> open(UniqueFd socket, const channel::FrameKey& key,
                                        std::chrono::milliseconds timeout);
  // One message as one frame; `timeout` bounds how long the receiver may take no byte.
  Result<void> send(const channel::Message& message);
  uint64_t bytes_sent() const { return bytes_sent_; }

 private:
  StateStreamSender(UniqueFd socket, channel::FrameEncoder encoder,
                    std::chrono::milliseconds timeout)
      : socket_(std::move(socket)), encoder_(std::move(encoder)), timeout_(timeout) {}

  UniqueFd socket_;
  channel::FrameEncoder encoder_;
  std::chrono::milliseconds timeout_;
  uint64_t bytes_sent_ = 0;
};

// Greets the sender on `socket` (accepted) and applies its messages to `receiver` until the
// state is complete. `timeout` bounds every wait for the sender.
Result<void> receive_state_stream(UniqueFd socket, const channel::FrameKey& key,
                                  StateReceiver& receiver, std::chrono::milliseconds timeout);

}  // namespace ftvm
