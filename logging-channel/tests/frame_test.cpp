// The frame layout is rebuilt here independently (HMAC and xxh3 called directly), so the
// tests check the documented wire format, not just that the encoder and decoder agree.
#include "logging_channel/frame.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <xxhash.h>

#include <string>

#include "fuzz_bodies.h"

namespace ftvm::channel {
namespace {

FrameKey key_of(char fill) {
  return FrameKey::from_bytes(std::vector<uint8_t>(32, static_cast<uint8_t>(fill))).value();
}

template <typename T>
void put(std::vector<uint8_t>& out, T value) {
  for (size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

struct RawFrame {
  uint8_t version = kFrameVersion;
  uint8_t type = static_cast<uint8_t>(MessageType::kAck);
  uint16_t flags = 0;
  uint64_t sequence = 0;
  std::vector<uint8_t> payload = std::vector<uint8_t>(48, 0);  // an ack's six u64
};

std::vector<uint8_t> build(const RawFrame& raw, const FrameKey& key) {
  std::vector<uint8_t> frame = {'F', 'T', 'L', 'C', raw.version, raw.type};
  put(frame, raw.flags);
  put(frame, static_cast<uint32_t>(raw.payload.size()));
  put(frame, raw.sequence);
  frame.insert(frame.end(), raw.payload.begin(), raw.payload.end());
  uint8_t tag[32] = {};
  if (key.authenticated()) {
    unsigned length = 0;
    HMAC(EVP_sha256(), key.bytes().data(), static_cast<int>(key.bytes().size()), frame.data(),
         frame.size(), tag, &length);
  } else {
    const XXH128_hash_t hash = XXH3_128bits(frame.data(), frame.size());
    for (int i = 0; i < 8; ++i) {
      tag[i] = static_cast<uint8_t>(hash.low64 >> (8 * i));
      tag[8 + i] = static_cast<uint8_t>(hash.high64 >> (8 * i));
    }
  }
  frame.insert(frame.end(), tag, tag + 32);
  return frame;
}

std::string decode_error(FrameDecoder& decoder, std::span<const uint8_t> bytes) {
  decoder.feed(bytes);
  while (true) {
    auto step = decoder.next();
    if (!step) return step.error().message;
    if (!*step) return "(no error: waiting for more bytes)";
  }
}

std::string decode_error(const FrameKey& key, std::span<const uint8_t> bytes) {
  FrameDecoder decoder(key);
  return decode_error(decoder, bytes);
}

#define EXPECT_CONTAINS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "in: " << (text)

class FrameTest : public ::testing::TestWithParam<bool> {
 protected:
  FrameKey key() const { return GetParam() ? key_of('k') : FrameKey::none(); }
};

TEST_P(FrameTest, EveryMessageRoundTrips) {
  FrameEncoder encoder(key());
  FrameDecoder decoder(key());
  for (const Message& message : sample_messages()) decoder.feed(encoder.encode(message));
  EXPECT_EQ(encoder.frames(), sample_messages().size());
  for (const Message& message : sample_messages()) {
    auto decoded = decoder.next();
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    ASSERT_TRUE(decoded->has_value());
    EXPECT_EQ(**decoded, message) << message_name(message);
  }
  auto end = decoder.next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end->has_value());
  EXPECT_EQ(decoder.frames(), sample_messages().size());
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST_P(FrameTest, EncoderWritesTheDocumentedLayout) {
  FrameEncoder encoder(key());
  static_cast<void>(encoder.encode(Goodbye{"first"}));
  const Ack ack{1, 2, 3, 4};
  RawFrame raw;
  raw.flags = GetParam() ? kFrameFlagAuthenticated : 0;
  raw.sequence = 1;
  raw.payload = encode_payload(ack);
  EXPECT_EQ(encoder.encode(ack), build(raw, key()));
}

TEST_P(FrameTest, FramesFedByteByByte) {
  FrameEncoder encoder(key());
  std::vector<uint8_t> stream;
  for (const Message& message : sample_messages()) {
    const auto frame = encoder.encode(message);
    stream.insert(stream.end(), frame.begin(), frame.end());
  }
  FrameDecoder decoder(key());
  std::vector<Message> decoded;
  for (const uint8_t byte : stream) {
    decoder.feed(std::span(&byte, 1));
    auto step = decoder.next();
    ASSERT_TRUE(step.ok()) << step.error().message;
    if (*step) decoded.push_back(std::move(**step));
  }
  EXPECT_EQ(decoded, sample_messages());
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST_P(FrameTest, PartialFrameWaitsAndIsBuffered) {
  FrameEncoder encoder(key());
  const auto frame = encoder.encode(Heartbeat{1, 2, 3});
  FrameDecoder decoder(key());
  decoder.feed(std::span(frame).first(frame.size() - 1));
  auto step = decoder.next();
  ASSERT_TRUE(step.ok());
  EXPECT_FALSE(step->has_value());
  EXPECT_EQ(decoder.buffered_bytes(), frame.size() - 1);
  EXPECT_EQ(decoder.frames(), 0u);
}

TEST_P(FrameTest, NothingFedIsNothingDecodedAndNoError) {
  FrameDecoder decoder(key());
  auto step = decoder.next();
  ASSERT_TRUE(step.ok()) << step.error().message;
  EXPECT_FALSE(step->has_value());
  decoder.feed({});
  step = decoder.next();
  ASSERT_TRUE(step.ok()) << step.error().message;
  EXPECT_FALSE(step->has_value());
}

TEST_P(FrameTest, BadMagicIsReportedFromTheFirstByte) {
  const std::vector<uint8_t> http = {'G'};
  EXPECT_CONTAINS(decode_error(key(), http), "not an ftvm logging channel");
}

TEST_P(FrameTest, UnsupportedVersion) {
  RawFrame raw;
  raw.version = 2;
  raw.flags = GetParam() ? kFrameFlagAuthenticated : 0;
  EXPECT_CONTAINS(decode_error(key(), build(raw, key())),
                  "frame version 2, this ftvm speaks version 1");
}

TEST_P(FrameTest, OversizeLengthIsRejectedBeforeThePayloadArrives) {
  std::vector<uint8_t> header = {'F', 'T', 'L', 'C', kFrameVersion, 2};
  put(header, uint16_t{0});
  put(header, static_cast<uint32_t>(kMaxFramePayloadBytes + 1));
  put(header, uint64_t{0});
  EXPECT_CONTAINS(decode_error(key(), header), "over the maximum");
}

TEST_P(FrameTest, UnknownFlags) {
  RawFrame raw;
  raw.flags = 0x8000 | (GetParam() ? kFrameFlagAuthenticated : 0);
  EXPECT_CONTAINS(decode_error(key(), build(raw, key())), "unknown flags 0x800");
}

TEST_P(FrameTest, ReplayedFrameIsRejected) {
  FrameEncoder encoder(key());
  const auto frame = encoder.encode(Heartbeat{1, 2, 3});
  FrameDecoder decoder(key());
  decoder.feed(frame);
  ASSERT_TRUE(decoder.next().ok());
  EXPECT_EQ(decode_error(decoder, frame),
            "frame 0 arrived where 1 was expected: replayed or lost frame");
}

TEST_P(FrameTest, LostFrameIsDetected) {
  FrameEncoder encoder(key());
  const auto first = encoder.encode(Heartbeat{1, 2, 3});
  static_cast<void>(encoder.encode(Heartbeat{4, 5, 6}));  // lost
  const auto third = encoder.encode(Heartbeat{7, 8, 9});
  FrameDecoder decoder(key());
  decoder.feed(first);
  ASSERT_TRUE(decoder.next().ok());
  EXPECT_EQ(decode_error(decoder, third),
            "frame 2 arrived where 1 was expected: replayed or lost frame");
}

TEST_P(FrameTest, TrailingBytesInAPayload) {
  RawFrame raw;
  raw.flags = GetParam() ? kFrameFlagAuthenticated : 0;
  raw.payload = encode_payload(Ack{1, 2, 3, 4});
  raw.payload.push_back(0xee);
  EXPECT_CONTAINS(decode_error(key(), build(raw, key())),
                  "frame 0: malformed ack message: 1 bytes are left over");
}

TEST_P(FrameTest, UnknownMessageType) {
  RawFrame raw;
  raw.flags = GetParam() ? kFrameFlagAuthenticated : 0;
  raw.type = 77;
  EXPECT_CONTAINS(decode_error(key(), build(raw, key())), "unknown message type 77");
}

TEST_P(FrameTest, ErrorsAreFinal) {
  FrameDecoder decoder(key());
  const std::vector<uint8_t> junk = {'X', 'Y'};
  const std::string first = decode_error(decoder, junk);
  FrameEncoder encoder(key());
  decoder.feed(encoder.encode(Heartbeat{}));
  auto again = decoder.next();
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, first);
}

INSTANTIATE_TEST_SUITE_P(KeyedAndUnkeyed, FrameTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "keyed" : "unkeyed"; });

TEST(FrameAuthTest, TamperedPayloadFailsAuthentication) {
  FrameEncoder encoder(key_of('k'));
  auto frame = encoder.encode(LogChunk{1, 2, {10, 20, 30}});
  frame[kFrameHeaderBytes + 17] ^= 0x01;
  EXPECT_CONTAINS(decode_error(key_of('k'), frame),
                  "authentication failed: the frame was altered or the peers use different "
                  "--key-file");
}

TEST(FrameAuthTest, TamperedFrameReturnsNothing) {
  FrameEncoder encoder(key_of('k'));
  auto frame = encoder.encode(Ack{5, 5, 5, 5});
  frame.back() ^= 0x80;  // the tag itself
  FrameDecoder decoder(key_of('k'));
  decoder.feed(frame);
  auto step = decoder.next();
  EXPECT_FALSE(step.ok());
  EXPECT_EQ(decoder.frames(), 0u);
}

TEST(FrameAuthTest, WrongKeyFailsAuthentication) {
  FrameEncoder encoder(key_of('a'));
  EXPECT_CONTAINS(decode_error(key_of('b'), encoder.encode(Heartbeat{})), "authentication failed");
}

TEST(FrameAuthTest, UnkeyedPeerOfAKeyedSide) {
  FrameEncoder encoder(FrameKey::none());
  EXPECT_CONTAINS(decode_error(key_of('k'), encoder.encode(Heartbeat{})),
                  "the peer has no --key-file");
}

TEST(FrameAuthTest, KeyedPeerOfAnUnkeyedSide) {
  FrameEncoder encoder(key_of('k'));
  EXPECT_CONTAINS(decode_error(FrameKey::none(), encoder.encode(Heartbeat{})),
                  "this side has no --key-file");
}

TEST(FrameAuthTest, CorruptedUnkeyedFrameFailsTheChecksum) {
  FrameEncoder encoder(FrameKey::none());
  auto frame = encoder.encode(Goodbye{"bye"});
  frame[kFrameHeaderBytes + 5] ^= 0x04;
  EXPECT_CONTAINS(decode_error(FrameKey::none(), frame), "frame 0: checksum mismatch");
}

TEST(FrameAuthTest, FlippedSequenceBitFailsTheTagNotTheSequence) {
  FrameEncoder encoder(key_of('k'));
  auto frame = encoder.encode(Heartbeat{});
  frame[12] ^= 0x01;  // the sequence number, covered by the tag
  EXPECT_CONTAINS(decode_error(key_of('k'), frame), "authentication failed");
}

}  // namespace
}  // namespace ftvm::channel
