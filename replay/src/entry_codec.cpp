#include "replay/entry_codec.h"

#include <fmt/format.h>

#include "byte_io.h"

namespace ftvm::replay {
namespace {

// The first byte of every entry: bits 0-3 the entry type, bits 4-5 a variant (the landmark
// kind of the entry's position, or the clock of a clock read), bit 6 set when a breakpoint
// position carries a memory digest (format version 5), bit 7 reserved, zero.
// Type 0 is invalid so that a run of zero bytes is never mistaken for entries.
enum EntryType : uint8_t {
  kTimer = 1,
  kConsoleInput = 2,
  kClockRead = 3,
  kCheckpoint = 4,
  kRegistersDigest = 5,
  kMemoryDigest = 6,
  kEnd = 7,
  kOutputDigest = 8,
  kHorizon = 9,
  kInterruptWindow = 10,
  kBlockCompletion = 11,
  kNetFrame = 12,
};
constexpr uint8_t kTypeMask = 0x0f;
constexpr unsigned kVariantShift = 4;
constexpr uint8_t kVariantMask = 0x03;
constexpr uint8_t kMemoryFlag = 0x40;
constexpr uint8_t kReservedMask = 0x80;

constexpr uint8_t kLandmarkKinds = 4;
constexpr uint8_t kClockKinds = 2;

// For error messages; nullptr for an unknown type.
const char* type_name(uint8_t type_byte) {
  switch (type_byte & kTypeMask) {
    case kTimer:
      return "timer";
    case kConsoleInput:
      return "console-input";
    case kClockRead:
      return "clock-read";
    case kCheckpoint:
      return "checkpoint";
    case kRegistersDigest:
      return "registers-digest";
    case kMemoryDigest:
      return "memory-digest";
    case kEnd:
      return "end";
    case kOutputDigest:
      return "output-digest";
    case kHorizon:
      return "horizon";
    case kInterruptWindow:
      return "interrupt-window";
    case kBlockCompletion:
      return "block-completion";
    case kNetFrame:
      return "net-frame";
    default:
      return nullptr;
  }
}

bool is_asynchronous(LandmarkKind kind) {
  return kind != LandmarkKind::kSynchronous;
}

Result<void> check_landmark(const Position& position, const char* kind) {
  if (position.point.memory != 0 && position.kind != LandmarkKind::kBreakpoint) {
    return make_error(fmt::format(
        "cannot encode {} entry: only a breakpoint landmark carries a memory digest", kind));
  }
  if (static_cast<uint8_t>(position.kind) < kLandmarkKinds) return {};
  return make_error(fmt::format("cannot encode {} entry: invalid landmark kind {}", kind,
                                static_cast<unsigned>(position.kind)));
}

Result<void> check_size(size_t size, size_t max, const char* what) {
  if (size <= max) return {};
  return make_error(fmt::format("cannot encode {} of {} bytes: the trace format allows at most {}",
                                what, size, max));
}

// Writes one entry. Each operator() first checks everything that can fail, then writes, so a
// failed entry leaves both the output and the delta base untouched.
class EntryWriter {
 public:
  EntryWriter(DeltaBase& base, std::vector<uint8_t>& out) : base_(base), out_(out) {}

  Result<void> operator()(const TimerEntry& e) {
    if (auto r = check_landmark(e.position, "timer"); !r) return r;
    put_position(kTimer, e.position);
    put_zigzag(out_, wrapping_delta(e.generation, base_.timer_generation));
    base_.timer_generation = e.generation;
    return {};
  }

  Result<void> operator()(const ConsoleInputEntry& e) {
    if (auto r = check_landmark(e.position, "console-input"); !r) return r;
    if (auto r = check_size(e.bytes.size(), kMaxBlobBytes, "console input"); !r) return r;
    put_position(kConsoleInput, e.position);
    put_blob(out_, e.bytes);
    return {};
  }

  Result<void> operator()(const ClockReadEntry& e) {
    const auto clock = static_cast<uint8_t>(e.clock);
    if (clock >= kClockKinds) {
      return make_error(fmt::format("cannot encode clock-read entry: invalid clock {}", clock));
    }
    put_head(kClockRead, clock, e.exit_count);
    const auto bits = static_cast<uint64_t>(e.value);
    put_zigzag(out_, wrapping_delta(bits, base_.clock_value[clock]));
    base_.clock_value[clock] = bits;
    return {};
  }

  Result<void> operator()(const CheckpointEntry& e) {
    if (auto r = check_landmark(e.position, "checkpoint"); !r) return r;
    if (auto r = check_size(e.state.size(), kMaxBlobBytes, "checkpoint state"); !r) return r;
    put_position(kCheckpoint, e.position);
    put_blob(out_, e.state);
    return {};
  }

  Result<void> operator()(const RegistersDigestEntry& e) {
    if (auto r = check_landmark(e.position, "registers-digest"); !r) return r;
    put_position(kRegistersDigest, e.position);
    put_u64(out_, e.digest);
    return {};
  }

  Result<void> operator()(const MemoryDigestEntry& e) {
    put_head(kMemoryDigest, 0, e.exit_count);
    put_u64(out_, e.digest);
    return {};
  }

  Result<void> operator()(const OutputDigestEntry& e) {
    put_head(kOutputDigest, 0, e.exit_count);
    put_u64(out_, e.bytes);
    put_u64(out_, e.digest);
    return {};
  }

  Result<void> operator()(const InterruptWindowEntry& e) {
    if (auto r = check_landmark(e.position, "interrupt-window"); !r) return r;
    put_position(kInterruptWindow, e.position);
    return {};
  }

  Result<void> operator()(const BlockCompletionEntry& e) {
    if (auto r = check_landmark(e.position, "block-completion"); !r) return r;
    if (auto r = check_size(e.data.size(), kMaxBlobBytes, "block read data"); !r) return r;
    put_position(kBlockCompletion, e.position);
    put_zigzag(out_, wrapping_delta(e.request_id, base_.block_request));
    base_.block_request = e.request_id;
    put_u8(out_, e.status);
    put_blob(out_, e.data);
    return {};
  }

  Result<void> operator()(const NetFrameEntry& e) {
    if (auto r = check_landmark(e.position, "net-frame"); !r) return r;
    if (auto r = check_size(e.bytes.size(), kMaxNetFrameBytes, "net frame"); !r) return r;
    put_position(kNetFrame, e.position);
    put_blob(out_, e.bytes);
    return {};
  }

  Result<void> operator()(const HorizonEntry& e) {
    put_head(kHorizon, 0, e.exit_count);
    return {};
  }

  Result<void> operator()(const EndEntry& e) {
    if (auto r = check_size(e.reason.size(), kMaxReasonBytes, "an end reason"); !r) return r;
    put_head(kEnd, 0, e.exit_count);
    put_u64(out_, e.registers_digest);
    put_u64(out_, e.memory_digest);
    put_string(out_, e.reason);
    return {};
  }

 private:
  // Exit counts only grow in a log, but a zigzag delta costs one bit and keeps the codec
  // total: any sequence of entries round-trips, and ordering is the replayer's to check.
  void put_head(EntryType type, uint8_t variant, uint64_t exit_count) {
    put_u8(out_, static_cast<uint8_t>(type | (variant << kVariantShift)));
    put_zigzag(out_, wrapping_delta(exit_count, base_.exit_count));
    base_.exit_count = exit_count;
  }

  // A synchronous position is only its exit count; its `point` is not stored. A counted one
  // is the count and the registers digest (which covers RIP).
  // A breakpoint one with a memory digest flags it in the type byte and adds its 4 bytes.
  void put_position(EntryType type, const Position& position) {
    const uint8_t flag = position.point.memory != 0 ? kMemoryFlag : 0;
    put_head(static_cast<EntryType>(type | flag), static_cast<uint8_t>(position.kind),
             position.exit_count);
    if (position.kind == LandmarkKind::kCounted) {
      put_varint(out_, position.instructions);
      put_u64(out_, position.point.fingerprint);
    } else if (is_asynchronous(position.kind)) {
      put_u64(out_, position.point.rip);
      put_u64(out_, position.point.fingerprint);
      if (flag) put_u32(out_, position.point.memory);
    }
  }

  DeltaBase& base_;
  std::vector<uint8_t>& out_;
};

// Reads one entry's fields after its type byte. Errors are left in the reader.
class EntryReader {
 public:
  EntryReader(ByteReader& reader, DeltaBase& base) : in_(reader), base_(base) {}

  TraceEntry read(uint8_t type_byte) {
    const uint8_t type = type_byte & kTypeMask;
    const uint8_t variant = (type_byte >> kVariantShift) & kVariantMask;
    if (type_byte & kReservedMask) {
      in_.fail(fmt::format("entry type byte {:#04x} has reserved bits set", type_byte));
      return {};
    }
    memory_flag_ = (type_byte & kMemoryFlag) != 0;
    TraceEntry entry = read_type(type, variant, type_byte);
    if (memory_flag_ && in_.ok()) {
      in_.fail(
          fmt::format("entry type byte {:#04x} flags a memory digest on an entry that is "
                      "not at a breakpoint landmark",
                      type_byte));
    }
    return entry;
  }

 private:
  TraceEntry read_type(uint8_t type, uint8_t variant, uint8_t type_byte) {
    switch (type) {
      case kTimer:
        return read_timer(variant);
      case kConsoleInput:
        return read_console_input(variant);
      case kClockRead:
        return read_clock(variant);
      case kCheckpoint:
        return read_checkpoint(variant);
      case kRegistersDigest:
        return read_registers_digest(variant);
      case kMemoryDigest:
        return read_memory_digest(variant);
      case kEnd:
        return read_end(variant);
      case kOutputDigest:
        return read_output_digest(variant);
      case kHorizon:
        return read_horizon(variant);
      case kInterruptWindow:
        return InterruptWindowEntry{read_position(variant)};
      case kBlockCompletion:
        return read_block_completion(variant);
      case kNetFrame:
        return read_net_frame(variant);
      default:
        in_.fail(fmt::format("unknown entry type {} (type byte {:#04x})", type, type_byte));
        return {};
    }
  }

  TraceEntry read_timer(uint8_t variant) {
    TimerEntry e;
    e.position = read_position(variant);
    e.generation = wrapping_add(base_.timer_generation, in_.zigzag("timer generation delta"));
    base_.timer_generation = e.generation;
    return e;
  }

  TraceEntry read_console_input(uint8_t variant) {
    ConsoleInputEntry e;
    e.position = read_position(variant);
    auto bytes = in_.blob(kMaxBlobBytes, "console input length");
    e.bytes.assign(bytes.begin(), bytes.end());
    return e;
  }

  TraceEntry read_block_completion(uint8_t variant) {
    BlockCompletionEntry e;
    e.position = read_position(variant);
    e.request_id = wrapping_add(base_.block_request, in_.zigzag("block request delta"));
    base_.block_request = e.request_id;
    e.status = in_.u8("block status");
    auto data = in_.blob(kMaxBlobBytes, "block read data length");
    e.data.assign(data.begin(), data.end());
    return e;
  }

  TraceEntry read_net_frame(uint8_t variant) {
    NetFrameEntry e;
    e.position = read_position(variant);
    auto bytes = in_.blob(kMaxNetFrameBytes, "net frame length");
    e.bytes.assign(bytes.begin(), bytes.end());
    return e;
  }

  TraceEntry read_clock(uint8_t variant) {
    if (variant >= kClockKinds) {
      in_.fail(fmt::format("unknown clock {}", variant));
      return {};
    }
    ClockReadEntry e;
    e.clock = static_cast<ClockKind>(variant);
    e.exit_count = read_exit_count();
    const uint64_t bits = wrapping_add(base_.clock_value[variant], in_.zigzag("clock value delta"));
    base_.clock_value[variant] = bits;
    e.value = static_cast<int64_t>(bits);
    return e;
  }

  TraceEntry read_checkpoint(uint8_t variant) {
    CheckpointEntry e;
    e.position = read_position(variant);
    auto state = in_.blob(kMaxBlobBytes, "checkpoint state length");
    e.state.assign(state.begin(), state.end());
    return e;
  }

  TraceEntry read_registers_digest(uint8_t variant) {
    RegistersDigestEntry e;
    e.position = read_position(variant);
    e.digest = in_.u64("registers digest");
    return e;
  }

  TraceEntry read_memory_digest(uint8_t variant) {
    if (!require_no_variant(variant)) return {};
    MemoryDigestEntry e;
    e.exit_count = read_exit_count();
    e.digest = in_.u64("memory digest");
    return e;
  }

  TraceEntry read_output_digest(uint8_t variant) {
    if (!require_no_variant(variant)) return {};
    OutputDigestEntry e;
    e.exit_count = read_exit_count();
    e.bytes = in_.u64("output byte count");
    e.digest = in_.u64("output digest");
    return e;
  }

  TraceEntry read_horizon(uint8_t variant) {
    if (!require_no_variant(variant)) return {};
    return HorizonEntry{read_exit_count()};
  }

  TraceEntry read_end(uint8_t variant) {
    if (!require_no_variant(variant)) return {};
    EndEntry e;
    e.exit_count = read_exit_count();
    e.registers_digest = in_.u64("end registers digest");
    e.memory_digest = in_.u64("end memory digest");
    e.reason = in_.string(kMaxReasonBytes, "end reason length");
    return e;
  }

  bool require_no_variant(uint8_t variant) {
    if (variant == 0) return true;
    in_.fail(fmt::format("variant bits {} set in a type that has no variants", variant));
    return false;
  }

  uint64_t read_exit_count() {
    const int64_t delta = in_.zigzag("exit count delta");
    base_.exit_count = wrapping_add(base_.exit_count, delta);
    return base_.exit_count;
  }

  Position read_position(uint8_t variant) {
    Position position;
    if (variant >= kLandmarkKinds) {
      in_.fail(fmt::format("unknown landmark kind {}", variant));
      return position;
    }
    position.kind = static_cast<LandmarkKind>(variant);
    position.exit_count = read_exit_count();
    if (position.kind == LandmarkKind::kCounted) {
      position.instructions = in_.varint("landmark instruction count");
      position.point.fingerprint = in_.u64("landmark registers digest");
    } else if (is_asynchronous(position.kind)) {
      position.point.rip = in_.u64("landmark rip");
      position.point.fingerprint = in_.u64("landmark fingerprint");
    }
    if (memory_flag_ && position.kind == LandmarkKind::kBreakpoint) {
      memory_flag_ = false;
      position.point.memory = in_.u32("landmark memory digest");
      if (in_.ok() && position.point.memory == 0) in_.fail("a flagged memory digest is zero");
    }
    return position;
  }

  ByteReader& in_;
  DeltaBase& base_;
  bool memory_flag_ = false;  // set by the type byte, cleared by the position that takes it
};

}  // namespace

Result<void> EntryEncoder::encode(const TraceEntry& entry, std::vector<uint8_t>& out) {
  return std::visit(EntryWriter(base_, out), entry);
}

Result<TraceEntry> EntryDecoder::next() {
  ByteReader in(bytes_, offset_, message_base_);
  const uint8_t type_byte = in.u8("entry type byte");
  if (!in.ok()) return make_error(in.error());
  TraceEntry entry = EntryReader(in, base_).read(type_byte);
  if (!in.ok()) {
    const char* name = type_name(type_byte);
    return make_error(fmt::format("{} (in the {} starting at byte {})", in.error(),
                                  name ? fmt::format("{} entry", name) : "entry",
                                  message_base_ + offset_));
  }
  offset_ = in.offset();
  return entry;
}

}  // namespace ftvm::replay
