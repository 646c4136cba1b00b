#include "logging_channel/handshake.h"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <string_view>
#include <vector>

#include "frame_tag.h"
#include "logging_channel/receive_message.h"
#include "logging_channel/tcp.h"

namespace ftvm::channel {
namespace {

ChannelRole other(ChannelRole role) {
  return role == ChannelRole::kPrimary ? ChannelRole::kBackup : ChannelRole::kPrimary;
}

// The label names the direction, so the two directions of one connection never share a key.
FrameKey direction_key(const FrameKey& base, ChannelRole sender, const Greeting& from_primary,
                       const Greeting& from_backup) {
  const std::string_view label = sender == ChannelRole::kPrimary
                                     ? "ftvm logging channel: primary to backup"
                                     : "ftvm logging channel: backup to primary";
  std::vector<uint8_t> context(label.begin(), label.end());
  context.insert(context.end(), from_primary.nonce.begin(), from_primary.nonce.end());
  context.insert(context.end(), from_backup.nonce.begin(), from_backup.nonce.end());
  const FrameTag derived = compute_tag(base, context);  // HMAC-SHA256 under the pair's key
  return FrameKey::from_bytes(derived).value();
}

}  // namespace

Result<Greeting> make_greeting(ChannelRole self) {
  Greeting greeting{self, {}};
  if (RAND_bytes(greeting.nonce.data(), static_cast<int>(greeting.nonce.size())) != 1) {
    return make_error("cannot draw a random nonce for the channel greeting (OpenSSL RAND_bytes)");
  }
  return greeting;
}

Result<ConnectionKeys> connection_keys(const FrameKey& base, const Greeting& mine,
                                       const Greeting& theirs) {
  if (theirs.sender != other(mine.sender)) {
    return make_error(fmt::format(
        "the peer greeted as a {} too: two {}s were pointed at each other, or this side's own "
        "greeting came back",
        role_name(theirs.sender), role_name(mine.sender)));
  }
  if (theirs.nonce == mine.nonce) {
    return make_error("the peer's greeting carries this side's own nonce: a reflected greeting");
  }
  if (!base.authenticated()) return ConnectionKeys{FrameKey::none(), FrameKey::none()};
  const Greeting& from_primary = mine.sender == ChannelRole::kPrimary ? mine : theirs;
  const Greeting& from_backup = mine.sender == ChannelRole::kPrimary ? theirs : mine;
  return ConnectionKeys{direction_key(base, mine.sender, from_primary, from_backup),
                        direction_key(base, theirs.sender, from_primary, from_backup)};
}

Result<void> exchange_greetings(const GreetingIo& io, const FrameKey& base, FrameEncoder& encoder,
                                FrameDecoder& decoder, uint64_t& bytes_sent, uint64_t& bytes_read) {
  const char* peer = role_name(other(io.self));
  auto mine = make_greeting(io.self);
  if (!mine) return mine.error();
  const auto frame = encoder.encode(*mine);
  if (auto sent = send_all(io.fd, frame, io.timeout); !sent) {
    return make_error(fmt::format("cannot greet the {}: {}", peer, sent.error().message));
  }
  bytes_sent += frame.size();
  auto message =
      receive_message(io.fd, decoder, io.buffer, io.timeout, peer, "its greeting", bytes_read);
  if (!message) return message.error();
  const auto* theirs = std::get_if<Greeting>(&*message);
  if (theirs == nullptr) {
    return make_error(fmt::format(
        "protocol error: the {}'s first message is a {}, not a greeting (an ftvm older than "
        "channel protocol 3?)",
        peer, message_name(*message)));
  }
  auto keys = connection_keys(base, *mine, *theirs);
  if (!keys) return keys.error();
  encoder.rekey(std::move(keys->send));
  decoder.rekey(std::move(keys->receive));
  return {};
}

}  // namespace ftvm::channel
