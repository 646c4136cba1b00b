#include "replay/chunk.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>

#include "byte_io.h"
#include "replay/format_version.h"

namespace ftvm::replay {
namespace {

constexpr uint8_t kMagic[4] = {'F', 'T', 'C', 'K'};

// Field offsets in the chunk header.
constexpr size_t kVersionAt = 4;
constexpr size_t kFlagsAt = 6;
constexpr size_t kPayloadLengthAt = 8;
constexpr size_t kFirstLsnAt = 12;
constexpr size_t kEntryCountAt = 20;
constexpr size_t kChecksumAt = 24;

struct ChunkHeader {
  uint16_t version;
  uint16_t flags;
  uint32_t payload_bytes;
  uint64_t first_lsn;
  uint32_t entry_count;
  uint64_t checksum;
};

ChunkHeader load_header(const uint8_t* bytes) {
  return {load_u16(bytes + kVersionAt),       load_u16(bytes + kFlagsAt),
          load_u32(bytes + kPayloadLengthAt), load_u64(bytes + kFirstLsnAt),
          load_u32(bytes + kEntryCountAt),    load_u64(bytes + kChecksumAt)};
}

// xxh3-64 of the header up to the checksum field, then the payload.
uint64_t chunk_checksum(std::span<const uint8_t> chunk) {
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(),
                                                                 &XXH3_freeState);
  XXH3_64bits_reset(state.get());
  XXH3_64bits_update(state.get(), chunk.data(), kChecksumAt);
  XXH3_64bits_update(state.get(), chunk.data() + kChunkHeaderBytes,
                     chunk.size() - kChunkHeaderBytes);
  return XXH3_64bits_digest(state.get());
}

std::string where(uint64_t offset, uint64_t lsn) {
  return fmt::format("corrupt chunk at byte offset {} (where LSN {} should start)", offset, lsn);
}

Error corrupt(uint64_t offset, uint64_t lsn, const std::string& what) {
  return make_error(fmt::format("{}: {}", where(offset, lsn), what));
}

std::string escaped_magic(std::span<const uint8_t> bytes) {
  std::string text;
  for (uint8_t byte : bytes) {
    if (byte >= 0x20 && byte < 0x7f) {
      text += static_cast<char>(byte);
    } else {
      text += fmt::format("\\x{:02x}", byte);
    }
  }
  return text;
}

// The fields a flipped bit could corrupt unnoticed only before the checksum was verified.
Result<void> check_verified_header(const ChunkHeader& header, uint64_t offset,
                                   uint64_t expected_lsn) {
  if (header.version != kTraceFormatVersion) {
    return corrupt(offset, expected_lsn,
                   fmt::format("chunk format version {} is not supported by this ftvm "
                               "(supports {})",
                               header.version, kTraceFormatVersion));
  }
  if (header.flags != 0) {
    return corrupt(
        offset, expected_lsn,
        fmt::format("unknown chunk flags {:#06x} (written by a newer ftvm?)", header.flags));
  }
  if (header.first_lsn != expected_lsn) {
    return corrupt(offset, expected_lsn,
                   fmt::format("the chunk starts at LSN {}, but the previous chunk ended "
                               "before LSN {}: chunks are missing or out of order",
                               header.first_lsn, expected_lsn));
  }
  return {};
}

Result<std::vector<LoggedEntry>> decode_payload(std::span<const uint8_t> chunk,
                                                const ChunkHeader& header, uint64_t offset) {
  const auto payload = chunk.subspan(kChunkHeaderBytes);
  EntryDecoder decoder(payload, offset + kChunkHeaderBytes);
  std::vector<LoggedEntry> entries;
  // Every entry takes at least two bytes, which bounds what a corrupt count can reserve.
  entries.reserve(std::min<size_t>(header.entry_count, payload.size() / 2));
  for (uint32_t i = 0; i < header.entry_count; ++i) {
    const uint64_t lsn = header.first_lsn + i;
    if (decoder.at_end()) {
      return corrupt(offset, header.first_lsn,
                     fmt::format("the payload holds only {} entries, the header says {}", i,
                                 header.entry_count));
    }
    const size_t start = decoder.offset();
    auto entry = decoder.next();
    if (!entry) {
      return corrupt(offset, header.first_lsn,
                     fmt::format("entry LSN {}: {}", lsn, entry.error().message));
    }
    entries.push_back({lsn, std::move(*entry), static_cast<uint32_t>(decoder.offset() - start)});
  }
  if (!decoder.at_end()) {
    return corrupt(offset, header.first_lsn,
                   fmt::format("{} bytes left over after the chunk's {} entries",
                               payload.size() - decoder.offset(), header.entry_count));
  }
  return entries;
}

bool all_zero(std::span<const uint8_t> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](uint8_t byte) { return byte == 0; });
}

// An incomplete chunk followed, at some later offset, by a valid chunk that starts where the
// incomplete one's entries would end: a torn write cannot leave that (the log is append-only),
// a corrupt length field can. Returns the offset of the hidden chunk.
std::optional<uint64_t> find_chunk_after(std::span<const uint8_t> log,
                                         const IncompleteChunk& torn) {
  if (!torn.header_complete) return std::nullopt;  // no room for another chunk after it
  const uint64_t next_lsn = torn.first_lsn + torn.entry_count;
  auto from = log.begin() + static_cast<ptrdiff_t>(torn.offset + kChunkHeaderBytes);
  while (true) {
    from = std::search(from, log.end(), std::begin(kMagic), std::end(kMagic));
    if (from == log.end()) return std::nullopt;
    const auto offset = static_cast<uint64_t>(from - log.begin());
    auto step = parse_chunk(log.subspan(offset), offset, next_lsn);
    if (step && std::holds_alternative<DecodedChunk>(*step)) return offset;
    ++from;
  }
}

}  // namespace

std::string describe_incomplete_chunk(const IncompleteChunk& chunk) {
  if (!chunk.header_complete) {
    return fmt::format(
        "the log ends inside a chunk header at byte offset {} ({} of {} bytes); entries from "
        "LSN {} on were not completely written",
        chunk.offset, chunk.present_bytes, kChunkHeaderBytes, chunk.first_lsn);
  }
  return fmt::format(
      "the chunk at byte offset {} is incomplete: {} of its {} bytes are present; its {} "
      "entries from LSN {} on were not completely written",
      chunk.offset, chunk.present_bytes, chunk.total_bytes, chunk.entry_count, chunk.first_lsn);
}

ChunkBuilder::ChunkBuilder(uint64_t first_lsn) : first_lsn_(first_lsn) {
  buffer_.resize(kChunkHeaderBytes);
}

Result<void> ChunkBuilder::add(const TraceEntry& entry) {
  if (entry_count_ == std::numeric_limits<uint32_t>::max()) {
    return make_error("chunk is full: it holds 2^32 - 1 entries; finish() it first");
  }
  const EntryEncoder saved_encoder = encoder_;
  const size_t saved_size = buffer_.size();
  if (auto r = encoder_.encode(entry, buffer_); !r) return r;
  if (payload_bytes() > kMaxChunkPayloadBytes) {
    encoder_ = saved_encoder;
    buffer_.resize(saved_size);
    return make_error(fmt::format(
        "a {} entry does not fit in the chunk: the payload would exceed {} bytes; finish() it "
        "first",
        entry_kind_name(entry), kMaxChunkPayloadBytes));
  }
  ++entry_count_;
  return {};
}

std::vector<uint8_t> ChunkBuilder::finish() {
  std::vector<uint8_t> chunk = std::move(buffer_);
  uint8_t* header = chunk.data();
  std::memcpy(header, kMagic, sizeof(kMagic));
  store_u16(header + kVersionAt, kTraceFormatVersion);
  store_u16(header + kFlagsAt, 0);
  store_u32(header + kPayloadLengthAt, static_cast<uint32_t>(chunk.size() - kChunkHeaderBytes));
  store_u64(header + kFirstLsnAt, first_lsn_);
  store_u32(header + kEntryCountAt, entry_count_);
  store_u64(header + kChecksumAt, chunk_checksum(chunk));

  first_lsn_ += entry_count_;
  entry_count_ = 0;
  encoder_.reset();
  buffer_.assign(kChunkHeaderBytes, 0);
  return chunk;
}

Result<std::vector<uint8_t>> encode_chunk(std::span<const TraceEntry> entries, uint64_t first_lsn) {
  ChunkBuilder builder(first_lsn);
  for (const auto& entry : entries) {
    if (auto r = builder.add(entry); !r) return r.error();
  }
  return builder.finish();
}

Result<ChunkParseStep> parse_chunk(std::span<const uint8_t> bytes, uint64_t stream_offset,
                                   uint64_t expected_first_lsn) {
  const auto magic_bytes = bytes.first(std::min(bytes.size(), sizeof(kMagic)));
  if (!std::equal(magic_bytes.begin(), magic_bytes.end(), std::begin(kMagic))) {
    return corrupt(stream_offset, expected_first_lsn,
                   fmt::format("bad magic \"{}\", expected \"FTCK\"", escaped_magic(magic_bytes)));
  }
  IncompleteChunk incomplete{stream_offset, expected_first_lsn, bytes.size()};
  if (bytes.size() < kChunkHeaderBytes) return ChunkParseStep(incomplete);

  const ChunkHeader header = load_header(bytes.data());
  if (header.payload_bytes > kMaxChunkPayloadBytes) {
    return corrupt(stream_offset, expected_first_lsn,
                   fmt::format("payload length {} exceeds the maximum {}", header.payload_bytes,
                               kMaxChunkPayloadBytes));
  }
  const size_t total_bytes = kChunkHeaderBytes + header.payload_bytes;
  if (bytes.size() < total_bytes) {
    incomplete.header_complete = true;
    incomplete.total_bytes = total_bytes;
    incomplete.entry_count = header.entry_count;
    return ChunkParseStep(incomplete);
  }

  const auto chunk = bytes.first(total_bytes);
  if (const uint64_t computed = chunk_checksum(chunk); computed != header.checksum) {
    return corrupt(stream_offset, expected_first_lsn,
                   fmt::format("checksum mismatch (stored {:#018x}, computed {:#018x})",
                               header.checksum, computed));
  }
  if (auto r = check_verified_header(header, stream_offset, expected_first_lsn); !r) {
    return r.error();
  }
  auto entries = decode_payload(chunk, header, stream_offset);
  if (!entries) return entries.error();
  return ChunkParseStep(
      DecodedChunk{{stream_offset, header.first_lsn, header.entry_count, header.payload_bytes},
                   std::move(*entries)});
}

void ChunkParser::feed(std::span<const uint8_t> bytes) {
  // Drop parsed bytes once they are at least half the buffer, so a long stream costs O(1)
  // amortised per byte.
  if (consumed_ > 0 && consumed_ * 2 >= buffer_.size()) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<ptrdiff_t>(consumed_));
    consumed_ = 0;
  }
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

std::span<const uint8_t> ChunkParser::unparsed() const {
  return std::span<const uint8_t>(buffer_).subspan(consumed_);
}

Result<std::optional<DecodedChunk>> ChunkParser::next() {
  if (error_) return *error_;
  if (unparsed().empty()) return std::optional<DecodedChunk>();
  auto step = parse_chunk(unparsed(), offset_, next_lsn_);
  if (!step) {
    error_ = step.error();
    return *error_;
  }
  auto* chunk = std::get_if<DecodedChunk>(&*step);
  if (chunk == nullptr) return std::optional<DecodedChunk>();
  consumed_ += chunk->info.total_bytes();
  offset_ += chunk->info.total_bytes();
  next_lsn_ += chunk->info.entry_count;
  return std::optional<DecodedChunk>(std::move(*chunk));
}

std::optional<IncompleteChunk> ChunkParser::incomplete() const {
  if (error_ || unparsed().empty()) return std::nullopt;
  auto step = parse_chunk(unparsed(), offset_, next_lsn_);
  if (!step) return std::nullopt;
  if (auto* chunk = std::get_if<IncompleteChunk>(&*step)) return *chunk;
  return std::nullopt;
}

Result<ParsedLog> parse_log(std::span<const uint8_t> log) {
  ParsedLog parsed;
  uint64_t offset = 0;
  uint64_t next_lsn = 0;
  while (offset < log.size()) {
    const auto rest = log.subspan(offset);
    // A chunk never starts with a zero byte, so checking the rest is cheap on good logs.
    if (rest[0] == 0 && all_zero(rest)) {
      parsed.torn_tail = fmt::format(
          "the log ends with {} zero bytes at byte offset {}, as a file system can leave after "
          "a crash; entries from LSN {} on were not completely written",
          rest.size(), offset, next_lsn);
      break;
    }
    auto step = parse_chunk(rest, offset, next_lsn);
    if (!step) return step.error();
    if (auto* torn = std::get_if<IncompleteChunk>(&*step)) {
      if (auto hidden = find_chunk_after(log, *torn)) {
        return corrupt(
            offset, next_lsn,
            fmt::format("its length field claims {} bytes, past the end of the log, "
                        "but the next chunk (LSN {}) follows at byte offset {}",
                        torn->total_bytes, torn->first_lsn + torn->entry_count, *hidden));
      }
      parsed.torn_tail = describe_incomplete_chunk(*torn);
      break;
    }
    auto& chunk = std::get<DecodedChunk>(*step);
    parsed.chunks.push_back(chunk.info);
    for (auto& entry : chunk.entries) parsed.entries.push_back(std::move(entry));
    offset += chunk.info.total_bytes();
    next_lsn += chunk.info.entry_count;
  }
  return parsed;
}

}  // namespace ftvm::replay
