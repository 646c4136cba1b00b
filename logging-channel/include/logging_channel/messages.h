// The messages of the logging channel between a primary and its backup (docs/protocol.md).
// Each travels as the payload of one frame (frame.h); message_codec.h lays out the bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "replay/chunk.h"
#include "vmm/devices/virtio_state.h"

namespace ftvm::channel {

// 2: acks carry the backup's replay costs. 3: each connection opens with a greeting from
// both sides. 4: state transfer to a joining backup (StatePages, StateDone). 5: StateDone
// carries the virtio devices' state (a VM with a disk or a network card can be joined).
// 6: a joining backup acks once it has built the VM, before the primary sends the state.
inline constexpr uint32_t kProtocolVersion = 6;

// Bounds on the variable-length fields. A decoder rejects anything larger before allocating,
// so a corrupt or hostile length cannot make a peer allocate gigabytes.
inline constexpr size_t kMaxVmIdBytes = 256;
inline constexpr size_t kMaxTraceHeaderBytes = size_t{1} << 20;
inline constexpr size_t kMaxGuestImageBytes = size_t{64} << 20;
inline constexpr size_t kMaxLogChunkBytes =
    replay::kChunkHeaderBytes + replay::kMaxChunkPayloadBytes;
inline constexpr size_t kMaxGoodbyeReasonBytes = 4096;
// State transfer: guest pages go in messages of at most 1024 pages (4 MiB before compression),
// so that a round of a large guest streams instead of piling up in one buffer.
inline constexpr uint64_t kTransferPageBytes = 4096;
inline constexpr size_t kMaxStatePagesPerMessage = 1024;
// Above ZSTD_compressBound() of 4 MiB (4 MiB + 16 KiB + a few bytes): incompressible pages fit.
inline constexpr size_t kMaxStatePagesCompressedBytes = (size_t{4} << 20) + (size_t{64} << 10);
inline constexpr size_t kMaxMachineStateBytes = size_t{4} << 20;
inline constexpr size_t kMaxTransferredConsoleInputBytes = size_t{1} << 20;
// The virtio devices' state: the disk's writes in flight, plus far more than the rest can take
// (128 requests of 128 buffers, 64 waiting frames, the registers).
inline constexpr size_t kMaxVirtioStatesPayloadBytes = kMaxUnfinishedWriteBytes + (size_t{1} << 20);

// primary -> backup, first message: everything the backup needs to build the same VM.
struct Hello {
  uint32_t protocol_version = kProtocolVersion;
  std::string vm_id;
  uint64_t generation = 0;
  std::vector<uint8_t> trace_header;  // an encoded replay::TraceHeader
  std::vector<uint8_t> guest_image;
  // The guest already runs: its state follows (StatePages..., StateDone) before the log, and
  // the backup joins at the point the transfer stopped it (docs/failover.md, "Re-protection").
  bool state_follows = false;
  bool operator==(const Hello&) const = default;
};

// primary -> backup: one chunk of the log exactly as replay::ChunkBuilder::finish() framed it
// (entries with LSNs).
struct LogChunk {
  uint64_t sent_ns = 0;
  uint64_t released_output_bytes = 0;
  std::vector<uint8_t> chunk;
  bool operator==(const LogChunk&) const = default;
};

// primary -> backup when nothing else was sent for a heartbeat interval.
struct Heartbeat {
  uint64_t sent_ns = 0;
  uint64_t released_output_bytes = 0;
  uint64_t primary_exit_count = 0;
  bool operator==(const Heartbeat&) const = default;
};

// backup -> primary, for every LogChunk and Heartbeat.
struct Ack {
  uint64_t received_lsn = 0;       // log entries received: the next LSN expected
  uint64_t replayed_lsn = 0;       // log entries applied
  uint64_t replay_exit_count = 0;  // the backup's exit count E
  uint64_t echo_sent_ns = 0;       // sent_ns of the latest LogChunk/Heartbeat, for round trips
  // What the backup's replay measured asynchronous landmarks to cost, for the primary's
  // --async auto choice (replay::ReplayCostModel). Zero: none of that kind replayed yet.
  uint64_t breakpoint_hit_ns = 0;   // mean per breakpoint hit
  uint64_t checkpoint_load_ns = 0;  // mean per checkpoint load
  bool operator==(const Ack&) const = default;
};

// Either direction: the sender closes the channel on purpose and says why, so the peer can
// tell a deliberate end from a failure.
struct Goodbye {
  std::string reason;
  bool operator==(const Goodbye&) const = default;
};
// A backup whose replay diverged starts its goodbye's reason with this (then the report's first
// line): its primary counts the divergences of its backups.
inline constexpr std::string_view kDivergedGoodbye = "diverged: ";

// Consecutive guest pages, from `first_gpa` (4 KiB aligned) on.
struct PageRun {
  uint64_t first_gpa = 0;
  uint32_t pages = 0;
  bool operator==(const PageRun&) const = default;
};

// primary -> joining backup: guest pages of one round of a state transfer (docs/protocol.md,
// "State transfer"). Round 0 carries every page; each later round the pages written since the
// one before; the last round, sent with the guest stopped, the pages written since then.
struct StatePages {
  uint32_t round = 0;
  std::vector<PageRun> runs;        // ascending, not overlapping, kMaxStatePagesPerMessage at most
  std::vector<uint8_t> compressed;  // the runs' pages in order, one zstd frame
  bool operator==(const StatePages&) const = default;
};

// primary -> joining backup, after the last round's pages: the stopped vCPU and devices.
struct StateDone {
  uint32_t rounds = 0;      // rounds of pages sent, the last (stopped) one included
  uint64_t exit_count = 0;  // the primary's exit count E where it stopped
  // At that exit: RFLAGS.IF as KVM reported it, and whether an interrupt could be injected.
  bool if_flag = false;
  bool ready_for_interrupt_injection = false;
  // Console input the guest had been given but not yet taken into its UART's FIFO.
  std::vector<uint8_t> console_input;
  std::vector<uint8_t> machine_state;  // vmm/vcpu_state.h encode_state(), without pages
  // Where the joined pair's log goes on: the LSN of the first entry after the stop.
  uint64_t first_lsn = 0;
  // Console output the guest produced before the stop: the joined backup's output stream
  // starts at this offset (its output digests cover what follows).
  uint64_t output_bytes = 0;
  // The latest clock values the guest read before the stop: a joined backup that goes live
  // shifts its host's clocks so that the guest's never step back below them.
  uint64_t clock_monotonic_ns = 0;
  int64_t clock_realtime_ns = 0;
  // Console input the primary logged before the stop: the joined backup counts the input its
  // guest had from there (`ftvm pair` gives a backup that took over only what it lacks).
  uint64_t console_input_logged = 0;
  // The disk's and the network card's state outside RAM, where the machine has them.
  VirtioStates virtio{};
  bool operator==(const StateDone&) const = default;
};

// Which end of the channel sent a greeting.
enum class ChannelRole : uint8_t { kPrimary = 1, kBackup = 2 };
inline constexpr size_t kGreetingNonceBytes = 32;

// Either direction, the first frame of every connection (handshake.h): a fresh random nonce.
// The keys of the rest of the connection are derived from both sides' nonces and the
// direction, so a frame recorded on one connection or sent the other way fails its tag.
struct Greeting {
  ChannelRole sender = ChannelRole::kPrimary;
  std::array<uint8_t, kGreetingNonceBytes> nonce{};
  bool operator==(const Greeting&) const = default;
};

using Message =
    std::variant<Hello, LogChunk, Heartbeat, Ack, Goodbye, Greeting, StatePages, StateDone>;

// The frame's message type byte. Zero is never sent, so a zeroed frame is rejected.
enum class MessageType : uint8_t {
  kHello = 1,
  kLogChunk = 2,
  kHeartbeat = 3,
  kAck = 4,
  kGoodbye = 5,
  kGreeting = 6,
  kStatePages = 7,
  kStateDone = 8,
};

MessageType message_type(const Message& m);

// "hello", "log", "heartbeat", "ack", "goodbye", "greeting", "state-pages", "state-done".
const char* role_name(ChannelRole role);
const char* message_name(const Message& m);
const char* message_name(MessageType type);
// Whether a frame's type byte names a message of this protocol version.
bool is_message_type(uint8_t type);

}  // namespace ftvm::channel
