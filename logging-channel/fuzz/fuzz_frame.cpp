#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "frame_tag.h"  // private to ftvm_channel: builds frames the encoder would refuse
#include "fuzz_bodies.h"
#include "logging_channel/frame.h"
#include "wire.h"

namespace ftvm::channel {
namespace {

void require(bool condition, const char* property) {
  if (condition) return;
  std::fprintf(stderr, "fuzz property violated: %s\n", property);
  std::abort();
}

FrameKey make_key(bool keyed) {
  return keyed ? FrameKey::from_bytes(fuzz_key_bytes()).value() : FrameKey::none();
}

struct Outcome {
  std::vector<Message> messages;
  std::optional<std::string> error;
  size_t consumed = 0;
};

// Drains the decoder, checking that an error stays the same when asked again.
void drain(FrameDecoder& decoder, Outcome& outcome) {
  while (!outcome.error) {
    auto step = decoder.next();
    if (!step) {
      require(!step.error().message.empty(), "errors say something");
      auto again = decoder.next();
      require(!again && again.error().message == step.error().message, "errors are final");
      outcome.error = step.error().message;
      return;
    }
    if (!*step) return;
    outcome.messages.push_back(std::move(**step));
    require(decoder.frames() == outcome.messages.size(), "frames() counts decoded frames");
  }
}

// Piece sizes come from the bytes themselves, so the fuzzer explores the splits too.
Outcome decode(std::span<const uint8_t> stream, bool keyed, bool in_pieces) {
  FrameDecoder decoder(make_key(keyed));
  Outcome outcome;
  size_t fed = 0;
  while (fed < stream.size() && !outcome.error) {
    const size_t piece =
        in_pieces ? std::min<size_t>(stream.size() - fed, 1 + stream[fed] % 37) : stream.size();
    decoder.feed(stream.subspan(fed, piece));
    fed += piece;
    require(decoder.buffered_bytes() <= fed, "the decoder holds no more than it was fed");
    drain(decoder, outcome);
  }
  drain(decoder, outcome);
  outcome.consumed = fed - decoder.buffered_bytes();
  return outcome;
}

void check_stream(std::span<const uint8_t> stream, bool keyed) {
  const Outcome whole = decode(stream, keyed, false);
  const Outcome pieces = decode(stream, keyed, true);
  require(whole.messages == pieces.messages, "pieces decode to the same messages");
  require(whole.error.has_value() == pieces.error.has_value(), "pieces fail alike");

  FrameEncoder encoder(make_key(keyed));
  std::vector<uint8_t> reencoded;
  for (const Message& message : whole.messages) {
    const auto frame = encoder.encode(message);
    reencoded.insert(reencoded.end(), frame.begin(), frame.end());
  }
  require(std::equal(reencoded.begin(), reencoded.end(), stream.begin(),
                     stream.begin() + static_cast<std::ptrdiff_t>(whole.consumed)),
          "decoded frames re-encode to the same bytes");
}

// Frame 0 around arbitrary payload bytes, with a correct tag.
std::vector<uint8_t> wrap_as_frame(uint8_t type, bool keyed, std::span<const uint8_t> payload) {
  std::vector<uint8_t> frame = {'F', 'T', 'L', 'C', kFrameVersion, type};
  put_le(frame, static_cast<uint16_t>(keyed ? kFrameFlagAuthenticated : 0));
  put_le(frame, static_cast<uint32_t>(payload.size()));
  put_le(frame, uint64_t{0});
  frame.insert(frame.end(), payload.begin(), payload.end());
  const FrameTag tag = compute_tag(make_key(keyed), frame);
  frame.insert(frame.end(), tag.begin(), tag.end());
  return frame;
}

}  // namespace

std::vector<uint8_t> fuzz_key_bytes() {
  const char text[] = "ftvm fuzz key, not a secret";
  return {text, text + sizeof(text) - 1};
}

int fuzz_frame(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::span<const uint8_t> rest(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      check_stream(rest, false);
      break;
    case 1:
      check_stream(rest, true);
      break;
    default:
      if (rest.size() >= 2) {
        const bool keyed = rest[1] & 1;
        check_stream(wrap_as_frame(rest[0], keyed, rest.subspan(2)), keyed);
      }
      break;
  }
  return 0;
}

}  // namespace ftvm::channel
