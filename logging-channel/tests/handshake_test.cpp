// The greeting that opens every connection: frames are bound to their connection and their
// direction, so with one pair key a frame recorded on one connection, or reflected back to its
// sender, fails its tag (issue 11, item 8).
#include "logging_channel/handshake.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/socket.h>

#include <future>
#include <string>

#include "logging_channel/tcp.h"
#include "vmm/unique_fd.h"

namespace ftvm::channel {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

FrameKey pair_key() {
  return FrameKey::from_bytes(std::vector<uint8_t>(32, 0x5a)).value();
}

// One end of a connection after its greeting: the encoder and decoder carry its keys.
struct End {
  explicit End(const FrameKey& key) : encoder(key), decoder(key) {}
  UniqueFd socket;
  FrameEncoder encoder;
  FrameDecoder decoder;
  std::vector<uint8_t> buffer = std::vector<uint8_t>(4096);
};

struct Connection {
  std::unique_ptr<End> primary;
  std::unique_ptr<End> backup;
};

Result<void> greet(End& end, ChannelRole role, const FrameKey& key) {
  uint64_t sent = 0, read = 0;
  return exchange_greetings({end.socket.get(), role, 2000ms, end.buffer}, key, end.encoder,
                            end.decoder, sent, read);
}

Connection greeted_connection(const FrameKey& key) {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  Connection c{std::make_unique<End>(key), std::make_unique<End>(key)};
  c.primary->socket = UniqueFd(fds[0]);
  c.backup->socket = UniqueFd(fds[1]);
  auto backup =
      std::async(std::launch::async, [&] { return greet(*c.backup, ChannelRole::kBackup, key); });
  auto primary = greet(*c.primary, ChannelRole::kPrimary, key);
  EXPECT_TRUE(primary) << primary.error().message;
  auto backup_done = backup.get();
  EXPECT_TRUE(backup_done) << backup_done.error().message;
  return c;
}

std::string decode_error(FrameDecoder& decoder, std::span<const uint8_t> frame) {
  decoder.feed(frame);
  auto message = decoder.next();
  if (message) return message.value() ? "decoded" : "incomplete";
  return message.error().message;
}

const Ack kAck{.received_lsn = 9, .echo_sent_ns = 1234};

TEST(HandshakeTest, FramesFlowBothWaysAfterTheGreeting) {
  auto c = greeted_connection(pair_key());
  auto hello = c.primary->encoder.encode(Hello{kProtocolVersion, "vm", 1, {}, {}});
  c.backup->decoder.feed(hello);
  auto got = c.backup->decoder.next();
  ASSERT_TRUE(got && *got) << (got ? "incomplete" : got.error().message);
  EXPECT_EQ(std::get<Hello>(**got).vm_id, "vm");
  c.primary->decoder.feed(c.backup->encoder.encode(kAck));
  auto ack = c.primary->decoder.next();
  ASSERT_TRUE(ack && *ack);
  EXPECT_EQ(std::get<Ack>(**ack), kAck);
}

// An attacker who recorded an earlier connection between the same pair (same key, same
// sequence numbers) replays its ack on a new one: it must not count.
TEST(HandshakeTest, AFrameRecordedOnOneConnectionIsRejectedOnAnother) {
  const FrameKey key = pair_key();
  auto recorded = greeted_connection(key);
  auto fresh = greeted_connection(key);
  const auto old_ack = recorded.backup->encoder.encode(kAck);  // frame 1 of that connection
  EXPECT_THAT(decode_error(fresh.primary->decoder, old_ack), HasSubstr("authentication failed"));
}

// The two directions use different keys: a primary's own frame sent back to it is refused.
TEST(HandshakeTest, AFrameReflectedToItsSenderIsRejected) {
  auto c = greeted_connection(pair_key());
  const auto heartbeat = c.primary->encoder.encode(Heartbeat{1, 2, 3});
  EXPECT_THAT(decode_error(c.primary->decoder, heartbeat), HasSubstr("authentication failed"));
}

TEST(HandshakeTest, AGreetingFromTheSameRoleOrWithOurNonceIsRefused) {
  const auto mine = make_greeting(ChannelRole::kPrimary).value();
  auto same_role = connection_keys(pair_key(), mine, make_greeting(ChannelRole::kPrimary).value());
  ASSERT_FALSE(same_role);
  EXPECT_THAT(same_role.error().message, HasSubstr("greeted as a primary too"));
  Greeting echoed = mine;
  echoed.sender = ChannelRole::kBackup;
  auto reflected = connection_keys(pair_key(), mine, echoed);
  ASSERT_FALSE(reflected);
  EXPECT_THAT(reflected.error().message, HasSubstr("own nonce"));
}

TEST(HandshakeTest, NoncesAreFreshForEveryGreeting) {
  EXPECT_NE(make_greeting(ChannelRole::kBackup).value().nonce,
            make_greeting(ChannelRole::kBackup).value().nonce);
}

// The derivation as docs/protocol.md states it, computed here with OpenSSL directly.
TEST(HandshakeTest, TheDirectionKeysAreTheDocumentedHmac) {
  Greeting primary{ChannelRole::kPrimary, {}};
  Greeting backup{ChannelRole::kBackup, {}};
  primary.nonce.fill(0x11);
  backup.nonce.fill(0x22);
  const FrameKey key = pair_key();
  auto expected = [&](const std::string& label) {
    std::vector<uint8_t> context(label.begin(), label.end());
    context.insert(context.end(), primary.nonce.begin(), primary.nonce.end());
    context.insert(context.end(), backup.nonce.begin(), backup.nonce.end());
    std::vector<uint8_t> out(32);
    unsigned length = 0;
    HMAC(EVP_sha256(), key.bytes().data(), static_cast<int>(key.bytes().size()), context.data(),
         context.size(), out.data(), &length);
    return out;
  };
  auto keys = connection_keys(key, primary, backup).value();
  const auto to_backup = expected("ftvm logging channel: primary to backup");
  const auto to_primary = expected("ftvm logging channel: backup to primary");
  EXPECT_TRUE(std::ranges::equal(keys.send.bytes(), to_backup));
  EXPECT_TRUE(std::ranges::equal(keys.receive.bytes(), to_primary));
  auto theirs = connection_keys(key, backup, primary).value();
  EXPECT_TRUE(std::ranges::equal(theirs.send.bytes(), to_primary));
}

TEST(HandshakeTest, AnUnkeyedChannelStaysUnkeyed) {
  auto c = greeted_connection(FrameKey::none());
  c.backup->decoder.feed(c.primary->encoder.encode(Heartbeat{1, 2, 3}));
  auto got = c.backup->decoder.next();
  ASSERT_TRUE(got && *got);
  EXPECT_EQ(std::get<Heartbeat>(**got), (Heartbeat{1, 2, 3}));
}

// A peer of protocol 2 opens with its hello: the error says what went wrong.
TEST(HandshakeTest, APeerThatDoesNotGreetGetsAClearError) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  End backup(FrameKey::none());
  backup.socket = UniqueFd(fds[0]);
  UniqueFd old_primary(fds[1]);
  FrameEncoder old_encoder(FrameKey::none());
  ASSERT_TRUE(send_all(old_primary.get(),
                       old_encoder.encode(Hello{kProtocolVersion, "vm", 1, {}, {}}), 1000ms));
  auto greeted = greet(backup, ChannelRole::kBackup, FrameKey::none());
  ASSERT_FALSE(greeted);
  EXPECT_THAT(greeted.error().message, HasSubstr("not a greeting"));
}

}  // namespace
}  // namespace ftvm::channel
