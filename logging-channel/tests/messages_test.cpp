#include "logging_channel/messages.h"

#include <gtest/gtest.h>

#include "fuzz_bodies.h"
#include "logging_channel/message_codec.h"

namespace ftvm::channel {
namespace {

TEST(MessagesTest, NamesAndTypes) {
  const char* names[] = {"hello",   "log",      "heartbeat",   "ack",
                         "goodbye", "greeting", "state-pages", "state-done"};
  const auto messages = sample_messages();
  for (size_t i = 0; i < std::size(names); ++i) {  // the first of each type
    EXPECT_STREQ(message_name(messages[i]), names[i]);
    EXPECT_EQ(static_cast<size_t>(message_type(messages[i])), i + 1);
    EXPECT_STREQ(message_name(message_type(messages[i])), names[i]);
  }
  EXPECT_FALSE(is_message_type(0));
  EXPECT_FALSE(is_message_type(9));
}

TEST(MessagesTest, AGreetingMustNameARole) {
  auto payload = encode_payload(Greeting{ChannelRole::kPrimary, {}});
  payload[0] = 3;
  auto decoded = decode_payload(static_cast<uint8_t>(MessageType::kGreeting), payload);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("field sender names no role"), std::string::npos)
      << decoded.error().message;
  payload.pop_back();  // the nonce is fixed-size
  payload[0] = 2;
  EXPECT_FALSE(decode_payload(static_cast<uint8_t>(MessageType::kGreeting), payload).ok());
}

TEST(MessagesTest, EveryMessageRoundTrips) {
  for (const Message& message : sample_messages()) {
    const auto payload = encode_payload(message);
    auto decoded = decode_payload(static_cast<uint8_t>(message_type(message)), payload);
    ASSERT_TRUE(decoded.ok()) << message_name(message) << ": " << decoded.error().message;
    EXPECT_EQ(*decoded, message) << message_name(message);
  }
}

TEST(MessagesTest, EmptyFieldsRoundTrip) {
  for (const Message& message : {Message(Hello{}), Message(LogChunk{}), Message(Goodbye{})}) {
    const auto payload = encode_payload(message);
    auto decoded = decode_payload(static_cast<uint8_t>(message_type(message)), payload);
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    EXPECT_EQ(*decoded, message);
  }
}

TEST(MessagesTest, FixedLayoutIsLittleEndian) {
  const auto payload = encode_payload(Ack{0x0102, 0, 0, 0, 0, 0x0304});
  ASSERT_EQ(payload.size(), 48u);
  EXPECT_EQ(payload[0], 0x02);
  EXPECT_EQ(payload[1], 0x01);
  EXPECT_EQ(payload[40], 0x04);  // checkpoint_load_ns, the last field
  EXPECT_EQ(payload[41], 0x03);
}

TEST(MessagesTest, AckCarriesTheBackupsReplayCosts) {
  const Ack ack{1, 2, 3, 4, 85'250, ~uint64_t{0}};
  const auto payload = encode_payload(ack);
  auto decoded = decode_payload(static_cast<uint8_t>(MessageType::kAck), payload);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  const auto& got = std::get<Ack>(*decoded);
  EXPECT_EQ(got.breakpoint_hit_ns, 85'250u);
  EXPECT_EQ(got.checkpoint_load_ns, ~uint64_t{0});
}

// A version 1 ack (four fields) must not decode as one whose costs are zero.
TEST(MessagesTest, TruncatedAckIsRejected) {
  auto payload = encode_payload(Ack{1, 2, 3, 4, 5, 6});
  for (const size_t size : {size_t{32}, size_t{40}, size_t{47}}) {
    auto decoded = decode_payload(static_cast<uint8_t>(MessageType::kAck),
                                  std::span<const uint8_t>(payload).first(size));
    ASSERT_FALSE(decoded.ok()) << size;
    EXPECT_NE(decoded.error().message.find("malformed ack message"), std::string::npos)
        << decoded.error().message;
    EXPECT_NE(decoded.error().message.find(size < 40 ? "breakpoint_hit_ns" : "checkpoint_load_ns"),
              std::string::npos)
        << decoded.error().message;
  }
}

TEST(MessagesTest, ShortPayloadNamesMessageAndField) {
  auto payload = encode_payload(Heartbeat{1, 2, 3});
  payload.resize(20);
  auto decoded = decode_payload(static_cast<uint8_t>(MessageType::kHeartbeat), payload);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("malformed heartbeat message"), std::string::npos)
      << decoded.error().message;
  EXPECT_NE(decoded.error().message.find("primary_exit_count"), std::string::npos);
}

TEST(MessagesTest, TrailingBytesAreRejected) {
  auto payload = encode_payload(Ack{1, 2, 3, 4});
  payload.push_back(0);
  auto decoded = decode_payload(static_cast<uint8_t>(MessageType::kAck), payload);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("malformed ack message: 1 bytes are left over"),
            std::string::npos)
      << decoded.error().message;
}

TEST(MessagesTest, OversizeLengthIsRejectedBeforeReadingIt) {
  // A vm_id claiming 257 bytes, with no bytes behind it: the bound is checked first.
  std::vector<uint8_t> payload = {1, 0, 0, 0, 0x01, 0x01, 0, 0};
  auto decoded = decode_payload(static_cast<uint8_t>(MessageType::kHello), payload);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("vm_id: length 257 is over the maximum of 256"),
            std::string::npos)
      << decoded.error().message;
}

TEST(MessagesTest, LengthBeyondThePayloadIsRejected) {
  auto payload = encode_payload(Goodbye{"bye"});
  payload[0] = 4;  // claims one byte more than follows
  auto decoded = decode_payload(static_cast<uint8_t>(MessageType::kGoodbye), payload);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("field reason"), std::string::npos)
      << decoded.error().message;
}

TEST(MessagesTest, UnknownTypeIsRejected) {
  auto decoded = decode_payload(42, {});
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("unknown message type 42"), std::string::npos);
}

TEST(MessagesTest, CheckBoundsNamesTheField) {
  Hello hello;
  hello.vm_id.assign(kMaxVmIdBytes + 1, 'x');
  auto checked = check_bounds(hello);
  ASSERT_FALSE(checked.ok());
  EXPECT_NE(checked.error().message.find("hello message's vm_id is 257 bytes"), std::string::npos)
      << checked.error().message;
  EXPECT_TRUE(check_bounds(Goodbye{std::string(kMaxGoodbyeReasonBytes, 'x')}).ok());
  EXPECT_FALSE(check_bounds(Goodbye{std::string(kMaxGoodbyeReasonBytes + 1, 'x')}).ok());
}

StatePages pages_with(std::vector<PageRun> runs) {
  return StatePages{1, std::move(runs), {1, 2, 3}};
}

std::string state_pages_error(const StatePages& m) {
  // Encoded by hand: encode_payload() refuses a message over its bounds.
  std::vector<uint8_t> payload;
  auto put = [&payload](uint64_t value, size_t bytes) {
    for (size_t i = 0; i < bytes; ++i) payload.push_back(static_cast<uint8_t>(value >> (8 * i)));
  };
  put(m.round, 4);
  put(m.runs.size(), 4);
  for (const PageRun& run : m.runs) {
    put(run.first_gpa, 8);
    put(run.pages, 4);
  }
  put(m.compressed.size(), 4);
  payload.insert(payload.end(), m.compressed.begin(), m.compressed.end());
  auto decoded = decode_payload(static_cast<uint8_t>(MessageType::kStatePages), payload);
  if (decoded.ok()) return "";
  EXPECT_FALSE(check_bounds(m).ok());
  return decoded.error().message;
}

TEST(MessagesTest, StatePagesRunsMustBeAlignedAscendingAndWithinTheLimit) {
  EXPECT_EQ(state_pages_error(pages_with({{0, 1}, {0x1000, 3}, {0x10000, 1}})), "");
  EXPECT_NE(state_pages_error(pages_with({{0x800, 1}})).find("not on a page"), std::string::npos);
  EXPECT_NE(state_pages_error(pages_with({{0x1000, 0}})).find("is empty"), std::string::npos);
  EXPECT_NE(state_pages_error(pages_with({{0x4000, 2}, {0x5000, 1}})).find("before the end"),
            std::string::npos);
  EXPECT_NE(state_pages_error(pages_with({{0xfffffffffffff000, 2}})).find("past the address"),
            std::string::npos);
  EXPECT_NE(state_pages_error(pages_with({{0, 1000}, {0x1000000, 25}})).find("more than 1024"),
            std::string::npos);
}

TEST(MessagesTest, StateDoneInterruptFlagsRoundTripAndUnknownBitsAreRejected) {
  for (const bool if_flag : {false, true}) {
    for (const bool ready : {false, true}) {
      const Message m = StateDone{2, 77, if_flag, ready, {'x'}, {1, 2}, 1234, 99, 5, -7, 12};
      auto decoded =
          decode_payload(static_cast<uint8_t>(MessageType::kStateDone), encode_payload(m));
      ASSERT_TRUE(decoded.ok()) << decoded.error().message;
      EXPECT_EQ(*decoded, m);
    }
  }
  auto payload = encode_payload(StateDone{2, 77, true, true, {}, {}});
  payload[12] = 4;  // after rounds (4) and exit_count (8)
  auto decoded = decode_payload(static_cast<uint8_t>(MessageType::kStateDone), payload);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("interrupt_flags has unknown bits (0x4)"),
            std::string::npos)
      << decoded.error().message;
}

TEST(MessagesTest, AHelloSaysWhetherStateFollowsAndRejectsAnyOtherValue) {
  for (const bool state_follows : {false, true}) {
    Hello hello{kProtocolVersion, "vm", 2, {1}, {2}};
    hello.state_follows = state_follows;
    auto decoded = decode_payload(static_cast<uint8_t>(MessageType::kHello), encode_payload(hello));
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    EXPECT_EQ(*decoded, Message(hello));
  }
  auto payload = encode_payload(Hello{kProtocolVersion, "vm", 2, {1}, {2}});
  payload.back() = 2;
  auto decoded = decode_payload(static_cast<uint8_t>(MessageType::kHello), payload);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("state_follows is 2, not 0 or 1"), std::string::npos)
      << decoded.error().message;
}

TEST(MessagesTest, AStatePagesRunCountOverTheLimitIsRejectedBeforeReadingTheRuns) {
  std::vector<uint8_t> payload = {1, 0, 0, 0, 0x01, 0x04, 0, 0};  // round 1, 1025 runs
  auto decoded = decode_payload(static_cast<uint8_t>(MessageType::kStatePages), payload);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("run_count is 1025"), std::string::npos)
      << decoded.error().message;
}

TEST(MessagesTest, ProtocolVersionCheck) {
  EXPECT_TRUE(check_protocol_version(Hello{}).ok());
  Hello other;
  other.protocol_version = kProtocolVersion + 1;
  auto checked = check_protocol_version(other);
  ASSERT_FALSE(checked.ok());
  EXPECT_NE(checked.error().message.find("same ftvm version"), std::string::npos);
  other.protocol_version = 1;  // its acks lack the replay costs
  EXPECT_FALSE(check_protocol_version(other).ok());
}

}  // namespace
}  // namespace ftvm::channel
