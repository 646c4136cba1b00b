// Human- and machine-readable views of a trace, for `ftvm trace dump|stats DIR [--json]`.
// Pure functions of a TraceReader: they print nothing themselves.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "replay/chunk.h"
#include "replay/trace_files.h"

namespace ftvm::replay {

// One line, no newline: "LSN kind position details", e.g.
//   42 timer E=1234 sync gen=3
//   43 console-input E=1300 bp rip=0x1002a3 fp=0x00c0ffee00c0ffee "echo hi\n"
std::string format_entry(const LoggedEntry& entry);
// A position as format_entry writes it: "E=1234 sync", "E=1300 bp rip=0x1002a3 fp=0x...".
std::string format_position(const Position& position);

// The header as "# " lines, then one line per entry, then the torn tail if there is one.
std::string dump_trace(const TraceReader& trace);

inline constexpr size_t kLandmarkKindCount = 4;  // indexed by LandmarkKind

struct KindStats {
  std::string kind;  // entry_kind_name()
  uint64_t count = 0;
  uint64_t encoded_bytes = 0;
  bool has_position = false;
  std::array<uint64_t, kLandmarkKindCount> landmarks{};
  std::array<uint64_t, kLandmarkKindCount> landmark_bytes{};  // encoded_bytes by landmark kind
};

struct TraceStats {
  std::string guest_name;
  std::string async_mode;  // the header's
  uint32_t format_version = 0;
  std::vector<KindStats> kinds;  // every kind, in TraceEntry's order
  std::array<uint64_t, kLandmarkKindCount> landmarks{};
  uint64_t entries = 0;
  uint64_t chunks = 0;
  uint64_t payload_bytes = 0;
  uint64_t framing_bytes = 0;  // chunk headers
  uint64_t log_bytes = 0;      // the whole log file, torn tail included
  uint64_t header_bytes = 0;
  uint64_t guest_image_bytes = 0;
  uint64_t last_exit_count = 0;
  std::optional<std::string> torn_tail;
};

TraceStats compute_trace_stats(const TraceReader& trace);
std::string trace_stats_text(const TraceReader& trace);
nlohmann::json trace_stats_json(const TraceReader& trace);

}  // namespace ftvm::replay
