// The compact binary encoding of trace entries (docs/trace-format.md, "Entries").
//
// Exit counts, timer generations and clock values are written as varint deltas from the
// previous entry, which makes the common entries tiny (a synchronous timer tick is 3 bytes)
// but makes the encoder and decoder stateful: both start from zero at every chunk boundary,
// so each chunk decodes on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "replay/trace_entry.h"
#include "vmm/result.h"

namespace ftvm::replay {

// Limits enforced by the decoder (a corrupt length must not make it allocate gigabytes) and
// by the encoder (so everything written can be read back).
inline constexpr size_t kMaxBlobBytes = size_t{64} << 20;   // console input, checkpoint state
inline constexpr size_t kMaxReasonBytes = size_t{4} << 10;  // EndEntry::reason
inline constexpr size_t kMaxNetFrameBytes = 1514;  // an Ethernet frame (kMaxEthernetFrameBytes)
// The most bytes one entry can take: a checkpoint with a maximal state blob.
inline constexpr size_t kMaxEntryBytes = kMaxBlobBytes + 64;

// What the deltas of the next entry are taken from.
struct DeltaBase {
  uint64_t exit_count = 0;
  uint64_t timer_generation = 0;
  uint64_t clock_value[2] = {0, 0};  // by ClockKind, as the bits of the int64_t value
  uint64_t block_request = 0;        // the request id of the latest block completion
};

class EntryEncoder {
 public:
  // Appends the encoding of `entry` to `out`. Fails, appending nothing, if the entry cannot
  // be represented: a blob or string over its limit, an invalid enum value.
  Result<void> encode(const TraceEntry& entry, std::vector<uint8_t>& out);
  // Starts over, as at the beginning of a chunk.
  void reset() { base_ = {}; }

 private:
  DeltaBase base_;
};

// Decodes entries from untrusted bytes (one chunk's payload). Never reads out of bounds or
// allocates more than the limits above, whatever the bytes are.
class EntryDecoder {
 public:
  // Error messages name offsets counted from `message_base`: pass the offset of `bytes` in
  // the file or stream they came from.
  explicit EntryDecoder(std::span<const uint8_t> bytes, uint64_t message_base = 0)
      : bytes_(bytes), message_base_(message_base) {}

  bool at_end() const { return offset_ == bytes_.size(); }
  // Bytes consumed by the entries decoded so far.
  size_t offset() const { return offset_; }
  // Decodes the next entry. An error says what is wrong and at which byte; after an error
  // the decoder should not be used any more.
  Result<TraceEntry> next();

 private:
  std::span<const uint8_t> bytes_;
  uint64_t message_base_ = 0;
  size_t offset_ = 0;
  DeltaBase base_;
};

}  // namespace ftvm::replay
