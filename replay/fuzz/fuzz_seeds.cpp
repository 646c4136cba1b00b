// Valid inputs for the fuzz bodies: every entry kind with ordinary and extreme values.
#include <algorithm>
#include <span>

#include "fuzz_bodies.h"
#include "replay/chunk.h"
#include "replay/entry_codec.h"
#include "replay/trace_header.h"

namespace ftvm::replay {
namespace {

std::vector<TraceEntry> sample_entries() {
  const AsyncPoint point{0x1002a3, 0x0123456789abcdef};
  const AsyncPoint with_memory{0x1002a3, 0x0123456789abcdef, 0x89abcdef};
  return {
      TimerEntry{{100, LandmarkKind::kSynchronous, {}}, 1},
      TimerEntry{{112, LandmarkKind::kSynchronous, {}}, 1},
      ClockReadEntry{112, ClockKind::kMonotonic, 1'000'000'000},
      ClockReadEntry{113, ClockKind::kRealtime, -5},
      ConsoleInputEntry{{120, LandmarkKind::kBreakpoint, point}, {'e', 'c', 'h', 'o', '\n'}},
      TimerEntry{{130, LandmarkKind::kCheckpoint, point}, 2},
      CheckpointEntry{{130, LandmarkKind::kCheckpoint, point}, {1, 2, 3, 4, 5, 6, 7, 8}},
      RegistersDigestEntry{{130, LandmarkKind::kCheckpoint, point}, 0xfeedface},
      MemoryDigestEntry{140, ~uint64_t{0}},
      BlockCompletionEntry{{141, LandmarkKind::kSynchronous, {}}, 0, 0, {0xde, 0xad}},
      BlockCompletionEntry{{142, LandmarkKind::kBreakpoint, point}, 1, 1, {}},
      TimerEntry{{142, LandmarkKind::kBreakpoint, with_memory}, 3},
      NetFrameEntry{{143, LandmarkKind::kSynchronous, {}}, std::vector<uint8_t>(60, 0xab)},
      EndEntry{150, 1, 2, "guest shut down"},
  };
}

std::vector<uint8_t> with_mode(uint8_t mode, std::vector<uint8_t> bytes) {
  bytes.insert(bytes.begin(), mode);
  return bytes;
}

std::vector<uint8_t> sample_log() {
  const auto entries = sample_entries();
  std::vector<uint8_t> log;
  for (size_t first = 0; first < entries.size(); first += 4) {
    const size_t count = std::min<size_t>(4, entries.size() - first);
    auto chunk = encode_chunk(std::span(entries).subspan(first, count), first);
    log.insert(log.end(), chunk->begin(), chunk->end());
  }
  return log;
}

std::vector<uint8_t> sample_payload() {
  EntryEncoder encoder;
  std::vector<uint8_t> payload;
  for (const auto& entry : sample_entries()) static_cast<void>(encoder.encode(entry, payload));
  return payload;
}

TraceHeader sample_header() {
  TraceHeader header;
  header.guest_name = "testsvc";
  header.guest_image_xxh3 = 0x1122334455667788;
  header.mem_bytes = 64 << 20;
  header.cpuid = {{0, 0, 0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69},
                  {1, 0, 0, 0x906ea, 0x800, 0x80200000, 0x178bfbff}};
  header.max_delay_ns = 1'000'000;
  header.async_mode = "auto";
  header.created_unix_ns = 1'700'000'000'000'000'000;
  header.net_mac = {0x02, 0x46, 0x54, 0x56, 0x4d, 0x01};
  header.interrupt_window = true;
  return header;
}

}  // namespace

std::vector<std::vector<uint8_t>> chunk_fuzz_seeds() {
  const auto payload = sample_payload();
  std::vector<uint8_t> framed_payload = {static_cast<uint8_t>(sample_entries().size())};
  framed_payload.insert(framed_payload.end(), payload.begin(), payload.end());
  return {with_mode(0, sample_log()), with_mode(1, payload), with_mode(2, framed_payload)};
}

std::vector<std::vector<uint8_t>> header_fuzz_seeds() {
  auto header = encode_trace_header(sample_header());
  const size_t body_at = 16;
  std::vector<uint8_t> body(header->begin() + body_at, header->end() - 8);
  return {with_mode(0, *header), with_mode(1, body)};
}

}  // namespace ftvm::replay
