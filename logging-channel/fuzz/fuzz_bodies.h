// The body of the frame decoder's libFuzzer target as a plain function: frame_fuzzer.cpp
// calls it under libFuzzer, and a unit test runs it over a deterministic corpus so builds
// without clang exercise it too. It returns 0 and aborts if the decoder breaks a property (a
// crash or sanitizer report is the other kind of finding).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "logging_channel/messages.h"

namespace ftvm::channel {

// The first byte picks what the rest is fed to:
//   0: a decoder without a key, as a byte stream;
//   1: a decoder with kFuzzKey;
//   2: the rest wrapped as one frame with a valid header and tag (the next byte is the type,
//      the one after it says whether to key it), so mutations reach the payload decoders.
// Properties: errors say something and are final; feeding the bytes at once or in pieces
// gives the same messages and outcome; every decoded frame re-encodes to exactly the bytes
// it was decoded from; the decoder never holds more bytes than it was fed.
int fuzz_frame(const uint8_t* data, size_t size);

// The key of mode 1 and of keyed frames in mode 2.
std::vector<uint8_t> fuzz_key_bytes();

// One message of every type, then extreme values; also the unit tests' samples.
std::vector<Message> sample_messages();

// Valid inputs to start mutating from, with their mode byte: streams with every message type
// keyed and unkeyed, cut short and with a flipped bit, and a payload of each type for mode 2.
std::vector<std::vector<uint8_t>> frame_fuzz_seeds();

}  // namespace ftvm::channel
