#include "replay/trace_report.h"

#include <fmt/format.h>

#include <ctime>
#include <optional>
#include <utility>

namespace ftvm::replay {
namespace {

// Console input is shown up to this many bytes; the rest is counted, not printed.
constexpr size_t kMaxShownBytes = 64;

constexpr std::array<const char*, kLandmarkKindCount> kLandmarkShortNames = {"sync", "bp", "ckpt",
                                                                             "count"};
constexpr std::array<const char*, kLandmarkKindCount> kLandmarkNames = {"sync", "breakpoint",
                                                                        "checkpoint", "counted"};

struct PositionOf {
  std::optional<Position> operator()(const TimerEntry& e) const { return e.position; }
  std::optional<Position> operator()(const ConsoleInputEntry& e) const { return e.position; }
  std::optional<Position> operator()(const CheckpointEntry& e) const { return e.position; }
  std::optional<Position> operator()(const RegistersDigestEntry& e) const { return e.position; }
  std::optional<Position> operator()(const ClockReadEntry&) const { return std::nullopt; }
  std::optional<Position> operator()(const MemoryDigestEntry&) const { return std::nullopt; }
  std::optional<Position> operator()(const OutputDigestEntry&) const { return std::nullopt; }
  std::optional<Position> operator()(const EndEntry&) const { return std::nullopt; }
  std::optional<Position> operator()(const HorizonEntry&) const { return std::nullopt; }
  std::optional<Position> operator()(const InterruptWindowEntry& e) const { return e.position; }
  std::optional<Position> operator()(const BlockCompletionEntry& e) const { return e.position; }
  std::optional<Position> operator()(const NetFrameEntry& e) const { return e.position; }
};

std::optional<Position> position_of(const TraceEntry& entry) {
  return std::visit(PositionOf{}, entry);
}

// A zeroed KindStats for each alternative of TraceEntry, in order.
KindStats empty_kind_stats(const TraceEntry& sample) {
  KindStats stats;
  stats.kind = entry_kind_name(sample);
  stats.has_position = position_of(sample).has_value();
  return stats;
}

template <size_t... I>
std::vector<KindStats> empty_kind_stats(std::index_sequence<I...>) {
  return {empty_kind_stats(TraceEntry(std::in_place_index<I>))...};
}

uint64_t exit_count_of(const TraceEntry& entry) {
  if (auto position = position_of(entry)) return position->exit_count;
  return std::visit(
      [](const auto& e) -> uint64_t {
        if constexpr (requires { e.exit_count; }) {
          return e.exit_count;
        } else {
          return 0;
        }
      },
      entry);
}

size_t landmark_index(LandmarkKind kind) {
  const auto index = static_cast<size_t>(kind);
  return index < kLandmarkKindCount ? index : 0;
}

// A double-quoted C-style literal: printable ASCII as is, everything else escaped, so a dump
// line never carries a raw newline or a terminal escape sequence.
std::string quoted(std::span<const uint8_t> bytes) {
  std::string text = "\"";
  for (size_t i = 0; i < bytes.size() && i < kMaxShownBytes; ++i) {
    const uint8_t byte = bytes[i];
    switch (byte) {
      case '\n':
        text += "\\n";
        break;
      case '\r':
        text += "\\r";
        break;
      case '\t':
        text += "\\t";
        break;
      case '"':
        text += "\\\"";
        break;
      case '\\':
        text += "\\\\";
        break;
      default:
        if (byte >= 0x20 && byte < 0x7f) {
          text += static_cast<char>(byte);
        } else {
          text += fmt::format("\\x{:02x}", byte);
        }
    }
  }
  text += "\"";
  if (bytes.size() > kMaxShownBytes) text += fmt::format("... ({} bytes)", bytes.size());
  return text;
}

std::span<const uint8_t> as_bytes(const std::string& text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

struct EntryDetails {
  std::string operator()(const TimerEntry& e) const {
    return fmt::format("{} gen={}", format_position(e.position), e.generation);
  }
  std::string operator()(const ConsoleInputEntry& e) const {
    return fmt::format("{} {}", format_position(e.position), quoted(e.bytes));
  }
  std::string operator()(const ClockReadEntry& e) const {
    const char* clock = e.clock == ClockKind::kRealtime ? "realtime" : "monotonic";
    return fmt::format("E={} {} value={}", e.exit_count, clock, e.value);
  }
  std::string operator()(const CheckpointEntry& e) const {
    return fmt::format("{} state={} bytes", format_position(e.position), e.state.size());
  }
  std::string operator()(const RegistersDigestEntry& e) const {
    return fmt::format("{} digest={:#018x}", format_position(e.position), e.digest);
  }
  std::string operator()(const MemoryDigestEntry& e) const {
    return fmt::format("E={} digest={:#018x}", e.exit_count, e.digest);
  }
  std::string operator()(const OutputDigestEntry& e) const {
    return fmt::format("E={} bytes={} digest={:#018x}", e.exit_count, e.bytes, e.digest);
  }
  std::string operator()(const HorizonEntry& e) const { return fmt::format("E={}", e.exit_count); }
  std::string operator()(const BlockCompletionEntry& e) const {
    return fmt::format("{} request={} status={} data={} bytes", format_position(e.position),
                       e.request_id, e.status, e.data.size());
  }
  std::string operator()(const NetFrameEntry& e) const {
    return fmt::format("{} bytes={}", format_position(e.position), e.bytes.size());
  }
  std::string operator()(const InterruptWindowEntry& e) const {
    return format_position(e.position);
  }
  std::string operator()(const EndEntry& e) const {
    return fmt::format("E={} regs={:#018x} mem={:#018x} reason={}", e.exit_count,
                       e.registers_digest, e.memory_digest, quoted(as_bytes(e.reason)));
  }
};

std::string format_time(int64_t unix_ns) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ns / 1'000'000'000);
  std::tm utc{};
  char text[64];
  if (gmtime_r(&seconds, &utc) == nullptr ||
      std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S UTC", &utc) == 0) {
    return fmt::format("{} ns since the epoch", unix_ns);
  }
  return text;
}

std::string format_header(const TraceReader& trace) {
  const TraceHeader& h = trace.header();
  std::string text;
  text += fmt::format("# ftvm trace, format version {}\n", h.format_version);
  text += fmt::format("# guest: {} ({} bytes, xxh3 {:#018x})\n", quoted(as_bytes(h.guest_name)),
                      trace.guest_image().size(), h.guest_image_xxh3);
  text += fmt::format("# memory: {} bytes, {} CPUID leaves\n", h.mem_bytes, h.cpuid.size());
  text +=
      fmt::format("# max delay: {} ns, async mode: {}, blocked interrupts at {}\n", h.max_delay_ns,
                  quoted(as_bytes(h.async_mode)),
                  h.interrupt_window ? "the interrupt-window exit" : "the next exit or landmark");
  text += fmt::format("# created: {}\n", format_time(h.created_unix_ns));
  text += fmt::format("# log: {} entries in {} chunks, {} bytes\n", trace.entries().size(),
                      trace.chunks().size(), trace.log_bytes());
  return text;
}

double per_entry(uint64_t bytes, uint64_t count) {
  return count == 0 ? 0.0 : static_cast<double>(bytes) / static_cast<double>(count);
}

nlohmann::json landmarks_json(const std::array<uint64_t, kLandmarkKindCount>& landmarks) {
  nlohmann::json json = nlohmann::json::object();
  for (size_t i = 0; i < kLandmarkKindCount; ++i) json[kLandmarkNames[i]] = landmarks[i];
  return json;
}

}  // namespace

std::string format_position(const Position& position) {
  const size_t kind = landmark_index(position.kind);
  std::string text = fmt::format("E={} {}", position.exit_count, kLandmarkShortNames[kind]);
  if (position.kind == LandmarkKind::kCounted) {
    text +=
        fmt::format(" +{} insns regs={:#018x}", position.instructions, position.point.fingerprint);
  } else if (position.kind != LandmarkKind::kSynchronous) {
    text += fmt::format(" rip={:#x} fp={:#018x}", position.point.rip, position.point.fingerprint);
    if (position.point.memory != 0) text += fmt::format(" mem={:#010x}", position.point.memory);
  }
  return text;
}

std::string format_entry(const LoggedEntry& entry) {
  return fmt::format("{} {} {}", entry.lsn, entry_kind_name(entry.entry),
                     std::visit(EntryDetails{}, entry.entry));
}

std::string dump_trace(const TraceReader& trace) {
  std::string text = format_header(trace);
  for (const auto& entry : trace.entries()) {
    text += format_entry(entry);
    text += '\n';
  }
  if (trace.torn_tail()) text += fmt::format("# torn tail: {}\n", *trace.torn_tail());
  return text;
}

TraceStats compute_trace_stats(const TraceReader& trace) {
  TraceStats stats;
  stats.guest_name = trace.header().guest_name;
  stats.async_mode = trace.header().async_mode;
  stats.format_version = trace.header().format_version;
  stats.kinds = empty_kind_stats(std::make_index_sequence<std::variant_size_v<TraceEntry>>());
  for (const auto& logged : trace.entries()) {
    KindStats& kind = stats.kinds[logged.entry.index()];
    ++kind.count;
    kind.encoded_bytes += logged.encoded_bytes;
    if (auto position = position_of(logged.entry)) {
      const size_t landmark = landmark_index(position->kind);
      ++kind.landmarks[landmark];
      kind.landmark_bytes[landmark] += logged.encoded_bytes;
      ++stats.landmarks[landmark];
    }
    stats.last_exit_count = exit_count_of(logged.entry);
  }
  for (const auto& chunk : trace.chunks()) {
    stats.payload_bytes += chunk.payload_bytes;
    stats.framing_bytes += kChunkHeaderBytes;
  }
  stats.entries = trace.entries().size();
  stats.chunks = trace.chunks().size();
  stats.log_bytes = trace.log_bytes();
  stats.header_bytes = trace.header_bytes();
  stats.guest_image_bytes = trace.guest_image().size();
  stats.torn_tail = trace.torn_tail();
  return stats;
}

std::string trace_stats_text(const TraceReader& trace) {
  const TraceStats stats = compute_trace_stats(trace);
  std::string text;
  text += fmt::format("guest {}, trace format version {}\n", quoted(as_bytes(stats.guest_name)),
                      stats.format_version);
  text += fmt::format(
      "{} entries in {} chunks; log {} bytes ({} payload + {} chunk headers), {:.2f} bytes per "
      "entry\n",
      stats.entries, stats.chunks, stats.log_bytes, stats.payload_bytes, stats.framing_bytes,
      per_entry(stats.log_bytes, stats.entries));
  text += fmt::format("last exit count E={}\n\n", stats.last_exit_count);
  text += fmt::format("{:<18} {:>10} {:>12} {:>11} {:>10} {:>10} {:>10} {:>10}\n", "kind", "count",
                      "bytes", "bytes/entry", "sync", "bp", "ckpt", "counted");
  for (const auto& kind : stats.kinds) {
    if (kind.count == 0) continue;
    text += fmt::format("{:<18} {:>10} {:>12} {:>11.2f}", kind.kind, kind.count, kind.encoded_bytes,
                        per_entry(kind.encoded_bytes, kind.count));
    if (kind.has_position) {
      text += fmt::format(" {:>10} {:>10} {:>10} {:>10}", kind.landmarks[0], kind.landmarks[1],
                          kind.landmarks[2], kind.landmarks[3]);
    }
    text += '\n';
  }
  text +=
      fmt::format("\nlandmarks: {} sync, {} breakpoint, {} checkpoint, {} counted (--async {})\n",
                  stats.landmarks[0], stats.landmarks[1], stats.landmarks[2], stats.landmarks[3],
                  stats.async_mode);
  const uint64_t instead_of_breakpoints = stats.landmarks[2] + stats.landmarks[3];
  if (stats.async_mode == "breakpoint" && instead_of_breakpoints > 0) {
    text += fmt::format(
        "{} of them stand where --async breakpoint placed no breakpoint: its probe found the "
        "search out of the replay's reach or the registers repeating (a checkpoint also where "
        "an injected interrupt was still queued)\n",
        instead_of_breakpoints);
  }
  if (stats.torn_tail) text += fmt::format("torn tail: {}\n", *stats.torn_tail);
  return text;
}

nlohmann::json trace_stats_json(const TraceReader& trace) {
  const TraceStats stats = compute_trace_stats(trace);
  nlohmann::json kinds = nlohmann::json::object();
  for (const auto& kind : stats.kinds) {
    nlohmann::json json = {{"count", kind.count}, {"encoded_bytes", kind.encoded_bytes}};
    if (kind.has_position) {
      json["landmarks"] = landmarks_json(kind.landmarks);
      json["landmark_bytes"] = landmarks_json(kind.landmark_bytes);
    }
    kinds[kind.kind] = std::move(json);
  }
  return {
      {"guest_name", stats.guest_name},
      {"async_mode", stats.async_mode},
      {"format_version", stats.format_version},
      {"entries", stats.entries},
      {"chunks", stats.chunks},
      {"payload_bytes", stats.payload_bytes},
      {"framing_bytes", stats.framing_bytes},
      {"log_bytes", stats.log_bytes},
      {"header_bytes", stats.header_bytes},
      {"guest_image_bytes", stats.guest_image_bytes},
      {"last_exit_count", stats.last_exit_count},
      {"kinds", std::move(kinds)},
      {"landmarks", landmarks_json(stats.landmarks)},
      {"torn_tail", stats.torn_tail ? nlohmann::json(*stats.torn_tail) : nlohmann::json()},
  };
}

}  // namespace ftvm::replay
