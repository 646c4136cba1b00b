// The entries of a trace: every nondeterministic input of a recorded run, with the position
// at which it entered the guest, plus the digests that let a replay prove it stayed exact.
// The same entries travel over the logging channel between a primary and its backup.
//
// See docs/trace-format.md for the encoding.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace ftvm::replay {

// Fingerprint of an asynchronous stop point: RIP plus a hash of all GPRs and RFLAGS, and at a
// breakpoint landmark a digest of the memory the code there is about to touch
// (memory_discriminator.h; 0: none recorded).
struct AsyncPoint {
  uint64_t rip = 0;
  uint64_t fingerprint = 0;
  uint32_t memory = 0;
  bool operator==(const AsyncPoint&) const = default;
};

// Where an input entered the guest. `exit_count` is E, the number of deterministic exits
// before it. A synchronous landmark is applied right after exit E; an asynchronous one at the
// point after exit E (and before exit E+1) whose RIP and fingerprint match.
enum class LandmarkKind : uint8_t {
  kSynchronous = 0,
  kBreakpoint = 1,  // asynchronous, found by hardware breakpoint + fingerprint
  kCheckpoint = 2,  // asynchronous, reached by loading the state in a CheckpointEntry
  kCounted = 3,     // asynchronous, `instructions` after exit E (a vCPU that counts them)
};

struct Position {
  uint64_t exit_count = 0;
  LandmarkKind kind = LandmarkKind::kSynchronous;
  // kBreakpoint, kCheckpoint: RIP and register_fingerprint(). kCounted: rip 0 (not logged) and
  // registers_digest(), which covers RIP too.
  AsyncPoint point;
  uint64_t instructions = 0;  // kCounted: instructions retired since exit E
  bool operator==(const Position&) const = default;
};

// ---- Inputs ------------------------------------------------------------------------------

// One expiry of PIT channel 0 (vmm::PitExpiry).
struct TimerEntry {
  Position position;
  uint64_t generation = 0;
  bool operator==(const TimerEntry&) const = default;
};

// Console input bytes (vmm::ConsoleInput).
struct ConsoleInputEntry {
  Position position;
  std::vector<uint8_t> bytes;
  bool operator==(const ConsoleInputEntry&) const = default;
};

// A block device's request was served (vmm::BlockCompletion): the request's number in
// submission order, the virtio-blk status and, for a read, the data, which reaches guest RAM
// only when this entry is applied.
struct BlockCompletionEntry {
  Position position;
  uint64_t request_id = 0;
  uint8_t status = 0;
  std::vector<uint8_t> data;
  bool operator==(const BlockCompletionEntry&) const = default;
};

// A frame from the host's network (vmm::NetFrame): its bytes reach the network card's receive
// buffer only when this entry is applied.
struct NetFrameEntry {
  Position position;
  std::vector<uint8_t> bytes;
  bool operator==(const NetFrameEntry&) const = default;
};

// The point where an interrupt that was pending while the guest could not take it (IF=0) may be
// delivered (vmm::InterruptWindow): the recorder's stand-in for the interrupt-window exit.
struct InterruptWindowEntry {
  Position position;
  bool operator==(const InterruptWindowEntry&) const = default;
};

// A value a device model read from the host clock (TimeSource) during exit `exit_count`.
enum class ClockKind : uint8_t { kMonotonic = 0, kRealtime = 1 };
struct ClockReadEntry {
  uint64_t exit_count = 0;
  ClockKind clock = ClockKind::kMonotonic;
  int64_t value = 0;
  bool operator==(const ClockReadEntry&) const = default;
};

// The vCPU and memory state at an asynchronous point: the replayer runs to exit E and then
// loads this instead of searching for the point. `state` is a vmm state blob (see
// vmm/include/vmm/vcpu_state.h), already compressed.
struct CheckpointEntry {
  Position position;
  std::vector<uint8_t> state;
  bool operator==(const CheckpointEntry&) const = default;
};

// ---- Proofs of exactness -----------------------------------------------------------------

// Digest of the GPRs, RIP and RFLAGS right after a landmark was applied.
struct RegistersDigestEntry {
  Position position;
  uint64_t digest = 0;
  bool operator==(const RegistersDigestEntry&) const = default;
};

// xxh3-64 of all guest RAM, taken right after exit `exit_count`.
struct MemoryDigestEntry {
  uint64_t exit_count = 0;
  uint64_t digest = 0;
  bool operator==(const MemoryDigestEntry&) const = default;
};

// A digest of everything the guest has output so far (console bytes today; packets and disk
// writes later), taken right after exit `exit_count`. Outputs are what an observer sees, so
// they are compared even where a checkpoint would have overwritten a divergent guest state.
struct OutputDigestEntry {
  uint64_t exit_count = 0;
  uint64_t bytes = 0;   // output bytes so far
  uint64_t digest = 0;  // xxh3-64 of all of them
  bool operator==(const OutputDigestEntry&) const = default;
};

// Only on the logging channel: no input comes before exit `exit_count`, so a backup may run
// through that exit's handling (but not resume past it). Its LSN also tags the guest's
// outputs of that exit: once the backup has it, it can reproduce them (docs/protocol.md).
struct HorizonEntry {
  uint64_t exit_count = 0;
  bool operator==(const HorizonEntry&) const = default;
};

// The end of a recording: where the guest stopped and in which state.
struct EndEntry {
  uint64_t exit_count = 0;
  uint64_t registers_digest = 0;
  uint64_t memory_digest = 0;
  std::string reason;
  bool operator==(const EndEntry&) const = default;
};

using TraceEntry =
    std::variant<TimerEntry, ConsoleInputEntry, ClockReadEntry, CheckpointEntry,
                 RegistersDigestEntry, MemoryDigestEntry, EndEntry, OutputDigestEntry, HorizonEntry,
                 InterruptWindowEntry, BlockCompletionEntry, NetFrameEntry>;

// A short name of the entry's kind ("timer", "console-input", ...), for dump and stats.
const char* entry_kind_name(const TraceEntry& entry);

}  // namespace ftvm::replay
