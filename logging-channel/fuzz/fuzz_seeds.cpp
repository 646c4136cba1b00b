// Valid inputs for the frame fuzz body: every message type, keyed and unkeyed, whole and
// damaged.
#include "fuzz_bodies.h"
#include "logging_channel/frame.h"
#include "logging_channel/message_codec.h"

namespace ftvm::channel {

namespace {

// A disk with two requests in flight (a read and a write) and a network card with a frame
// waiting: every field of the virtio state set.
VirtioStates sample_virtio_states() {
  VirtioTransportState disk_transport{15, 1, 1, (uint64_t{1} << 32) | 0x200, 0, 1, 2, {}, {}, true};
  disk_transport.queues.push_back({128, true, {128, 0x10000, 0x10800, 0x11000}, 70, 68});
  VirtioBlkState disk;
  disk.transport = disk_transport;
  disk.next_id = 9;
  disk.in_flight = {{7, 3, {{0x20000, 512}}, 0x20fff, 512}, {8, 5, {}, 0x21000, 0}};
  disk.unfinished = {{7, BlockOp::kRead, 4096, 512, {}},
                     {8, BlockOp::kWrite, 8192, 4, {'d', 'a', 't', 'a'}}};
  VirtioTransportState net_transport{
      79, 0, 1, uint64_t{1} << 32, 1, 3, 1, {}, std::string("queue 0: bad ring"), false};
  net_transport.queues.push_back({256, true, {256, 0x30000, 0x31000, 0x32000}, 1, 1});
  net_transport.queues.push_back({64, false, {0, 0, 0, 0}, 0, 0});
  return {disk, VirtioNetState{net_transport, {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x08}}}};
}

}  // namespace

std::vector<Message> sample_messages() {
  StateDone with_devices{1, 77, false, true, {}, {'F', 'T', 'V', 'S', 2, 0}, 5, 0, 1, 2, 0};
  with_devices.virtio = sample_virtio_states();
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
      with_devices,
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
