#include "pair/state_stream.h"

#include "logging_channel/handshake.h"
#include "logging_channel/receive_message.h"
#include "logging_channel/tcp.h"

namespace ftvm {
namespace {

// Enough for the largest state-pages frame to be read in a few calls.
constexpr size_t kReadBytes = size_t{1} << 20;

}  // namespace

Result<StateStreamSender> StateStreamSender::open(UniqueFd socket, const channel::FrameKey& key,
                                                  std::chrono::milliseconds timeout) {
  channel::FrameEncoder encoder(key);
  channel::FrameDecoder decoder(key);
  std::vector<uint8_t> buffer(64 << 10);
  uint64_t sent = 0;
  uint64_t read = 0;
  const channel::GreetingIo io{socket.get(), channel::ChannelRole::kPrimary, timeout, buffer};
  if (auto r = channel::exchange_greetings(io, key, encoder, decoder, sent, read); !r) {
    return make_error("state transfer: " + r.error().message);
  }
  StateStreamSender sender(std::move(socket), std::move(encoder), timeout);
  sender.bytes_sent_ = sent;
  return sender;
}

Result<void> StateStreamSender::send(const channel::Message& message) {
  const auto frame = encoder_.encode(message);
  if (auto r = channel::send_all(socket_.get(), frame, timeout_); !r) {
    return make_error("state transfer: cannot send to the receiver: " + r.error().message);
  }
  bytes_sent_ += frame.size();
  return {};
}

Result<void> receive_state_stream(UniqueFd socket, const channel::FrameKey& key,
                                  StateReceiver& receiver, std::chrono::milliseconds timeout) {
  channel::FrameEncoder encoder(key);
  channel::FrameDecoder decoder(key);
  std::vector<uint8_t> buffer(kReadBytes);
  uint64_t sent = 0;
  uint64_t read = 0;
  const channel::GreetingIo io{socket.get(), channel::ChannelRole::kBackup, timeout, buffer};
  if (auto r = channel::exchange_greetings(io, key, encoder, decoder, sent, read); !r) {
    return make_error("state transfer: " + r.error().message);
  }
  while (!receiver.complete()) {
    auto message = channel::receive_message(socket.get(), decoder, buffer, timeout, "primary",
                                            "the state", read);
    if (!message) return make_error("state transfer: " + message.error().message);
    if (auto applied = receiver.apply(*message); !applied) return applied.error();
  }
  return {};
}

}  // namespace ftvm
