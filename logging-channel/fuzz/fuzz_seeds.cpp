// Valid inputs for the frame fuzz body: every message type, keyed and unkeyed, whole and
// damaged.
#include "fuzz_bodies.h"
#include "logging_channel/frame.h"
#include "logging_channel/message_codec.h"

namespace ftvm::channel {

std::vector<Message> sample_messages() {
  return {
      Hello{kProtocolVersion, "vm-7", 3, {'F', 'T', 'V', 'M'}, {0x7f, 'E', 'L', 'F', 2, 1}},
      LogChunk{1'000'000, 12, {'F', 'T', 'C', 'K', 1, 0, 0, 0}},
      Heartbeat{2'000'000, 40, 123'456},
      Ack{17, 15, 123'000, 2'000'000, 85'000, 310'000},
      Goodbye{"primary shutting down"},
      Greeting{ChannelRole::kBackup, {1, 2, 3, 4, 5, 6, 7, 8}},
      StatePages{2, {{0x1000, 2}, {0x9000, 1}}, {0x28, 0xb5, 0x2f, 0xfd, 0, 0x58}},
      StateDone{3,
                123'456,
                true,
                false,
                {'l', 's', '\n'},
                {'F', 'T', 'V', 'S', 1, 0},
                9'876,
                512,
                1'000'000'007,
                -5,
                300},
      Heartbeat{~uint64_t{0}, ~uint64_t{0}, ~uint64_t{0}},
      Hello{kProtocolVersion, "vm-7", 4, {'F', 'T', 'V', 'M'}, {0x7f, 'E', 'L', 'F'}, true},
  };
}

namespace {

std::vector<uint8_t> stream_of(const std::vector<Message>& messages, bool keyed) {
  FrameEncoder encoder(keyed ? FrameKey::from_bytes(fuzz_key_bytes()).value() : FrameKey::none());
  std::vector<uint8_t> stream;
  for (const Message& message : messages) {
    const auto frame = encoder.encode(message);
    stream.insert(stream.end(), frame.begin(), frame.end());
  }
  return stream;
}

std::vector<uint8_t> with_mode(uint8_t mode, std::vector<uint8_t> bytes) {
  bytes.insert(bytes.begin(), mode);
  return bytes;
}

}  // namespace

std::vector<std::vector<uint8_t>> frame_fuzz_seeds() {
  std::vector<std::vector<uint8_t>> seeds;
  for (const bool keyed : {false, true}) {
    const uint8_t mode = keyed ? 1 : 0;
    const auto stream = stream_of(sample_messages(), keyed);
    seeds.push_back(with_mode(mode, stream));
    seeds.push_back(with_mode(mode, {stream.begin(), stream.begin() + 37}));  // cut in a frame
    auto flipped = stream;
    flipped[kFrameHeaderBytes + 3] ^= 0x10;  // in the first payload
    seeds.push_back(with_mode(mode, flipped));
  }
  for (const Message& message : sample_messages()) {
    std::vector<uint8_t> wrapped = {static_cast<uint8_t>(message_type(message)), 1};
    const auto payload = encode_payload(message);
    wrapped.insert(wrapped.end(), payload.begin(), payload.end());
    seeds.push_back(with_mode(2, wrapped));
  }
  return seeds;
}

}  // namespace ftvm::channel
