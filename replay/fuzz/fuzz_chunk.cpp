#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "fuzz_bodies.h"
#include "replay/chunk.h"
#include "replay/entry_codec.h"
#include "replay/format_version.h"
#include "replay/trace_report.h"

namespace ftvm::replay {
namespace {

void require(bool condition, const char* property) {
  if (condition) return;
  std::fprintf(stderr, "fuzz property violated: %s\n", property);
  std::abort();
}

bool same_bytes(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

// Decoding is canonical: every accepted chunk is exactly what the encoder writes.
void check_chunks_reencode(std::span<const uint8_t> log, const ParsedLog& parsed) {
  uint64_t offset = 0;
  for (const ChunkInfo& chunk : parsed.chunks) {
    require(chunk.offset == offset, "chunks are contiguous");
    std::vector<TraceEntry> entries;
    for (uint64_t lsn = chunk.first_lsn; lsn < chunk.first_lsn + chunk.entry_count; ++lsn) {
      require(parsed.entries[lsn].lsn == lsn, "entry LSNs count from 0");
      entries.push_back(parsed.entries[lsn].entry);
      static_cast<void>(format_entry(parsed.entries[lsn]));
    }
    auto encoded = encode_chunk(entries, chunk.first_lsn);
    require(encoded.ok(), "decoded entries can be encoded");
    require(same_bytes(*encoded, log.subspan(chunk.offset, chunk.total_bytes())),
            "a decoded chunk re-encodes to the same bytes");
    offset += chunk.total_bytes();
  }
}

// Feeds the log to a stream parser in pieces whose sizes come from the bytes themselves.
std::vector<LoggedEntry> parse_as_stream(std::span<const uint8_t> log) {
  ChunkParser parser;
  std::vector<LoggedEntry> entries;
  size_t fed = 0;
  while (true) {
    auto chunk = parser.next();
    if (!chunk) break;
    if (*chunk) {
      for (auto& entry : (*chunk)->entries) entries.push_back(std::move(entry));
      continue;
    }
    if (fed == log.size()) break;
    const size_t piece = std::min<size_t>(log.size() - fed, 1 + log[fed] % 61);
    parser.feed(log.subspan(fed, piece));
    fed += piece;
  }
  return entries;
}

void check_log(std::span<const uint8_t> log) {
  auto parsed = parse_log(log);
  const std::vector<LoggedEntry> streamed = parse_as_stream(log);
  if (!parsed) {
    require(!parsed.error().message.empty(), "errors say something");
    return;
  }
  check_chunks_reencode(log, *parsed);
  require(streamed.size() == parsed->entries.size(), "the stream parser reads the same entries");
  for (size_t i = 0; i < streamed.size(); ++i) {
    require(streamed[i].lsn == parsed->entries[i].lsn &&
                streamed[i].entry == parsed->entries[i].entry &&
                streamed[i].encoded_bytes == parsed->entries[i].encoded_bytes,
            "the stream parser reads the same entries");
  }
}

void check_payload(std::span<const uint8_t> payload) {
  EntryDecoder decoder(payload);
  std::vector<TraceEntry> entries;
  while (!decoder.at_end()) {
    auto entry = decoder.next();
    if (!entry) break;
    entries.push_back(std::move(*entry));
  }
  EntryEncoder encoder;
  std::vector<uint8_t> encoded;
  for (const auto& entry : entries) require(encoder.encode(entry, encoded).ok(), "re-encodes");
  require(same_bytes(encoded, payload.first(decoder.offset())),
          "decoded entries re-encode to the same bytes");
}

void append_le(std::vector<uint8_t>& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

// A chunk at LSN 0 with a correct checksum around arbitrary payload bytes.
std::vector<uint8_t> frame_as_chunk(uint32_t entry_count, std::span<const uint8_t> payload) {
  constexpr size_t kChecksumAt = 24;
  std::vector<uint8_t> checked = {'F', 'T', 'C', 'K', kTraceFormatVersion, 0, 0, 0};  // no flags
  append_le(checked, payload.size(), 4);
  append_le(checked, 0, 8);  // first LSN
  append_le(checked, entry_count, 4);
  checked.insert(checked.end(), payload.begin(), payload.end());
  const uint64_t checksum = XXH3_64bits(checked.data(), checked.size());

  std::vector<uint8_t> chunk(checked.begin(), checked.begin() + kChecksumAt);
  append_le(chunk, checksum, 8);
  chunk.insert(chunk.end(), payload.begin(), payload.end());
  return chunk;
}

}  // namespace

int fuzz_chunk(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::span<const uint8_t> rest(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      check_log(rest);
      break;
    case 1:
      check_payload(rest);
      break;
    default:
      if (!rest.empty()) check_log(frame_as_chunk(rest[0], rest.subspan(1)));
      break;
  }
  return 0;
}

}  // namespace ftvm::replay
