// The bodies of the libFuzzer targets, as plain functions: the libFuzzer entry points call
// them, and a unit test runs them over a deterministic corpus so builds without clang
// exercise them too. Each returns 0, and aborts if the code under test breaks a property
// (a crash or sanitizer report is the other kind of finding).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ftvm::replay {

// The first byte picks what the rest is fed to:
//   0: parse_log and a ChunkParser fed in pieces, as a log file or stream;
//   1: an EntryDecoder, as a chunk payload (no checksum in the way);
//   2: parse_log, after wrapping the rest in a valid chunk header (entry count from its
//      first byte, correct checksum), so mutations reach the payload checks.
// Whatever decodes must re-encode to the same bytes, and the stream parser must agree with
// the whole-file parser.
int fuzz_chunk(const uint8_t* data, size_t size);

// The first byte picks: 0: decode_trace_header on the rest; 1: the rest as the header body,
// wrapped in a valid magic, version, length and checksum. A decoded header must re-encode to
// the same bytes.
int fuzz_header(const uint8_t* data, size_t size);

// Valid inputs to start mutating from, with their mode byte.
std::vector<std::vector<uint8_t>> chunk_fuzz_seeds();
std::vector<std::vector<uint8_t>> header_fuzz_seeds();

}  // namespace ftvm::replay
