// Chunks: the unit in which entries are written to a trace's log file and streamed over the
// logging channel (docs/trace-format.md, "Chunks").
//
// A chunk is a 32-byte header and a payload of entries encoded by EntryEncoder from a fresh
// delta base, so every chunk decodes on its own. The header, little-endian:
//
//   offset  size  field
//        0     4  magic "FTCK"
//        4     2  format version (kTraceFormatVersion)
//        6     2  flags (none defined yet; must be 0)
//        8     4  payload length in bytes
//       12     8  first LSN: the log sequence number of the chunk's first entry
//       20     4  entry count
//       24     8  xxh3-64 of bytes 0..23 followed by the payload
//
// LSNs number the entries of the whole log from 0, so each chunk's first LSN is the previous
// chunk's first LSN plus its entry count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "replay/entry_codec.h"
#include "replay/trace_entry.h"
#include "vmm/result.h"

namespace ftvm::replay {

inline constexpr size_t kChunkHeaderBytes = 32;
// A chunk claiming more is corrupt: the bound keeps a bad length from making a reader wait
// for, or allocate, gigabytes. Room for a maximal checkpoint plus a chunk's worth of others.
inline constexpr size_t kMaxChunkPayloadBytes = size_t{128} << 20;

// An entry as read from a log.
struct LoggedEntry {
  uint64_t lsn = 0;
  TraceEntry entry;
  uint32_t encoded_bytes = 0;  // its size in the chunk payload
};

struct ChunkInfo {
  uint64_t offset = 0;  // of the chunk header in the file or stream
  uint64_t first_lsn = 0;
  uint32_t entry_count = 0;
  uint32_t payload_bytes = 0;
  uint64_t total_bytes() const { return kChunkHeaderBytes + payload_bytes; }
};

struct DecodedChunk {
  ChunkInfo info;
  std::vector<LoggedEntry> entries;
};

// The start of a chunk whose bytes have not all arrived: in a stream, wait for more; at the
// end of a file, a torn tail (a write cut short by a crash).
struct IncompleteChunk {
  uint64_t offset = 0;
  uint64_t first_lsn = 0;  // the LSN the chunk must start at
  size_t present_bytes = 0;
  bool header_complete = false;
  // Known once the header is complete:
  uint64_t total_bytes = 0;
  uint32_t entry_count = 0;
};

// Says what a torn tail lost, for humans: which offset, how many bytes, which LSNs.
std::string describe_incomplete_chunk(const IncompleteChunk& chunk);

// Collects entries into one chunk.
class ChunkBuilder {
 public:
  explicit ChunkBuilder(uint64_t first_lsn = 0);

  // Encodes `entry` into the chunk. Fails, leaving the chunk as it was, if the entry cannot
  // be encoded or the payload would exceed kMaxChunkPayloadBytes (finish() first).
  Result<void> add(const TraceEntry& entry);

  bool empty() const { return entry_count_ == 0; }
  uint32_t entry_count() const { return entry_count_; }
  size_t payload_bytes() const { return buffer_.size() - kChunkHeaderBytes; }
  uint64_t first_lsn() const { return first_lsn_; }
  uint64_t next_lsn() const { return first_lsn_ + entry_count_; }

  // Returns the framed chunk (header + payload) and starts the next one at next_lsn().
  std::vector<uint8_t> finish();

 private:
  uint64_t first_lsn_;
  uint32_t entry_count_ = 0;
  EntryEncoder encoder_;
  std::vector<uint8_t> buffer_;  // room for the header, then the payload
};

// Encodes `entries` as one chunk starting at `first_lsn`.
Result<std::vector<uint8_t>> encode_chunk(std::span<const TraceEntry> entries, uint64_t first_lsn);

using ChunkParseStep = std::variant<DecodedChunk, IncompleteChunk>;

// Parses the chunk at the start of `bytes`, which lie at `stream_offset` in their file or
// stream and must start at LSN `expected_first_lsn`. Returns the decoded chunk (its
// info.total_bytes() were consumed), or IncompleteChunk if `bytes` end before the chunk does,
// or an error naming the byte offset and LSN if the bytes are corrupt: bad magic, a payload
// length over the maximum, checksum mismatch, an unsupported version, unknown flags, an LSN
// that does not follow the previous chunk, an undecodable entry, fewer entries than the
// header says or bytes left over after them.
//
// Only the magic and the length are checked before the whole chunk is present; every other
// field is trusted only after the checksum matched, so a flipped bit anywhere else reads as
// corruption, never as, say, an unsupported version.
Result<ChunkParseStep> parse_chunk(std::span<const uint8_t> bytes, uint64_t stream_offset,
                                   uint64_t expected_first_lsn);

// Parses a growing stream of chunks, such as the logging channel's TCP stream.
class ChunkParser {
 public:
  explicit ChunkParser(uint64_t first_lsn = 0, uint64_t stream_offset = 0)
      : offset_(stream_offset), next_lsn_(first_lsn) {}

  void feed(std::span<const uint8_t> bytes);

  // The next complete chunk, or std::nullopt until more bytes are fed. After an error the
  // stream is unusable: every later call returns the same error.
  Result<std::optional<DecodedChunk>> next();

  // The chunk that next() is waiting to complete, if it has started.
  std::optional<IncompleteChunk> incomplete() const;
  uint64_t next_lsn() const { return next_lsn_; }
  // Stream offset of the next chunk.
  uint64_t offset() const { return offset_; }

 private:
  std::span<const uint8_t> unparsed() const;

  std::vector<uint8_t> buffer_;
  size_t consumed_ = 0;  // bytes at the front of buffer_ already parsed
  uint64_t offset_;
  uint64_t next_lsn_;
  std::optional<Error> error_;
};

// A whole log, as read from a file.
struct ParsedLog {
  std::vector<ChunkInfo> chunks;
  std::vector<LoggedEntry> entries;  // entries[i].lsn == i
  // Set if the log ends with an incomplete chunk, or with zero bytes that a file system can
  // leave after a crash: everything before it was read.
  std::optional<std::string> torn_tail;
};

// Parses a complete log file. An incomplete last chunk is a torn tail, not an error — unless
// a valid chunk follows where it claims to be, which means its length field is corrupt.
Result<ParsedLog> parse_log(std::span<const uint8_t> log);

}  // namespace ftvm::replay
