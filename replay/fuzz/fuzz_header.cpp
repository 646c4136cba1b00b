#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "fuzz_bodies.h"
#include "replay/trace_header.h"

namespace ftvm::replay {
namespace {

void require(bool condition, const char* property) {
  if (condition) return;
  std::fprintf(stderr, "fuzz property violated: %s\n", property);
  std::abort();
}

void append_le(std::vector<uint8_t>& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

// A header file of the current version around arbitrary body bytes.
std::vector<uint8_t> frame_as_header(std::span<const uint8_t> body) {
  std::vector<uint8_t> header = {'F', 'T', 'V', 'M', 'T', 'R', 'C', '\0'};
  append_le(header, kTraceFormatVersion, 4);
  append_le(header, body.size(), 4);
  header.insert(header.end(), body.begin(), body.end());
  append_le(header, XXH3_64bits(header.data(), header.size()), 8);
  return header;
}

void check_header(std::span<const uint8_t> bytes) {
  auto header = decode_trace_header(bytes);
  if (!header) {
    require(!header.error().message.empty(), "errors say something");
    return;
  }
  auto encoded = encode_trace_header(*header);
  require(encoded.ok(), "a decoded header can be encoded");
  require(std::equal(encoded->begin(), encoded->end(), bytes.begin(), bytes.end()),
          "a decoded header re-encodes to the same bytes");
}

}  // namespace

int fuzz_header(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::span<const uint8_t> rest(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    check_header(rest);
  } else {
    check_header(frame_as_header(rest));
  }
  return 0;
}

}  // namespace ftvm::replay
