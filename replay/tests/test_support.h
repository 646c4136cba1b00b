// Helpers shared by the replay format tests.
#pragma once

#include <xxhash.h>

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "replay/chunk.h"
#include "replay/trace_entry.h"

namespace ftvm::replay::testing {

inline Position sync_at(uint64_t exit_count) {
  return {exit_count, LandmarkKind::kSynchronous, {}};
}

inline Position breakpoint_at(uint64_t exit_count, uint64_t rip, uint64_t fingerprint) {
  return {exit_count, LandmarkKind::kBreakpoint, {rip, fingerprint}};
}

inline std::vector<uint8_t> bytes_of(const std::string& text) {
  return {text.begin(), text.end()};
}

// A recording-like mix of every kind, with exit counts growing as in a real run.
inline std::vector<TraceEntry> mixed_entries(size_t count, uint64_t seed = 1) {
  std::mt19937_64 random(seed);
  std::vector<TraceEntry> entries;
  uint64_t exit_count = 0;
  for (size_t i = 0; i < count; ++i) {
    exit_count += random() % 20;
    const AsyncPoint point{0x100000 + random() % 0x10000, random()};
    switch (random() % 10) {
      case 0:
        entries.push_back(ConsoleInputEntry{{exit_count, LandmarkKind::kBreakpoint, point},
                                            bytes_of("line " + std::to_string(i) + "\n")});
        break;
      case 1:
        entries.push_back(
            ClockReadEntry{exit_count, ClockKind::kMonotonic, static_cast<int64_t>(i * 1000)});
        break;
      case 2:
        entries.push_back(RegistersDigestEntry{sync_at(exit_count), random()});
        break;
      case 3:
        entries.push_back(MemoryDigestEntry{exit_count, random()});
        break;
      case 4:
        entries.push_back(CheckpointEntry{{exit_count, LandmarkKind::kCheckpoint, point},
                                          std::vector<uint8_t>(random() % 100, 0xab)});
        break;
      default:
        entries.push_back(TimerEntry{sync_at(exit_count), i / 100});
    }
  }
  entries.push_back(EndEntry{exit_count, 1, 2, "guest shut down (status 0)"});
  return entries;
}

// Several chunks of `per_chunk` entries each, concatenated as in a log file.
inline std::vector<uint8_t> encode_log(const std::vector<TraceEntry>& entries, size_t per_chunk,
                                       std::vector<size_t>* chunk_offsets = nullptr) {
  std::vector<uint8_t> log;
  for (size_t first = 0; first < entries.size(); first += per_chunk) {
    const size_t count = std::min(per_chunk, entries.size() - first);
    if (chunk_offsets) chunk_offsets->push_back(log.size());
    auto chunk = encode_chunk(std::span(entries).subspan(first, count), first);
    log.insert(log.end(), chunk->begin(), chunk->end());
  }
  return log;
}

// Recomputes a chunk's checksum after a test edited its header or payload on purpose.
inline void fix_chunk_checksum(std::vector<uint8_t>& bytes, size_t chunk_offset) {
  const size_t payload = bytes[chunk_offset + 8] | bytes[chunk_offset + 9] << 8 |
                         bytes[chunk_offset + 10] << 16 | bytes[chunk_offset + 11] << 24;
  std::vector<uint8_t> checked(bytes.begin() + chunk_offset, bytes.begin() + chunk_offset + 24);
  checked.insert(checked.end(), bytes.begin() + chunk_offset + 32,
                 bytes.begin() + chunk_offset + 32 + payload);
  const uint64_t checksum = XXH3_64bits(checked.data(), checked.size());
  for (int i = 0; i < 8; ++i)
    bytes[chunk_offset + 24 + i] = static_cast<uint8_t>(checksum >> (8 * i));
}

inline std::vector<TraceEntry> entries_of(std::span<const LoggedEntry> logged) {
  std::vector<TraceEntry> entries;
  for (const auto& e : logged) entries.push_back(e.entry);
  return entries;
}

}  // namespace ftvm::replay::testing
