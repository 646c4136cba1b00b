#include "pair/state_stream.h"

#include "logging_channel/handshake.h"
#include "logging_channel/receive_message.h"
#include "logging_channel/tcp.h"

namespace ftvm {
namespace {

// Enough for the largest state-pages frame to be read in a few calls.
constexpr size_t kReadBytes = size_t{1} << 20;

// A connection once both sides greeted: its codecs keyed for it, and the bytes so far.
struct Greeted {
  channel::FrameEncoder encoder;
  channel::FrameDecoder decoder;
  uint64_t sent = 0;
  uint64_t read = 0;
};

Result<Greeted> greet(int fd, const channel::FrameKey& key, channel::ChannelRole self,
                      std::chrono::milliseconds timeout, std::span<uint8_t> buffer) {
  Greeted greeted{channel::FrameEncoder(key), channel::FrameDecoder(key)};
  const channel::GreetingIo io{fd, self, timeout, buffer};
  if (auto r = channel::exchange_greetings(io, key, greeted.encoder, greeted.decoder, greeted.sent,
                                           greeted.read);
      !r) {
    return make_error("state transfer: " + r.error().message);
  }
  return greeted;
}

}  // namespace

Result<StateStreamSender> StateStreamSender::open(UniqueFd socket, const channel::FrameKey& key,
                                                  std::chrono::milliseconds timeout) {
  std::vector<uint8_t> buffer(64 << 10);
  auto greeted = greet(socket.get(), key, channel::ChannelRole::kPrimary, timeout, buffer);
  if (!greeted) return greeted.error();
  StateStreamSender sender(std::move(socket), std::move(greeted->encoder), timeout);
  sender.bytes_sent_ = greeted->sent;
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
  std::vector<uint8_t> buffer(kReadBytes);
  auto greeted = greet(socket.get(), key, channel::ChannelRole::kBackup, timeout, buffer);
  if (!greeted) return greeted.error();
  while (!receiver.complete()) {
    auto message = channel::receive_message(socket.get(), greeted->decoder, buffer, timeout,
                                            "primary", "the state", greeted->read);
    if (!message) return make_error("state transfer: " + message.error().message);
    if (auto applied = receiver.apply(*message); !applied) return applied.error();
  }
  return {};
}

}  // namespace ftvm
