// The payload bytes of each message (docs/protocol.md, "Messages"): little-endian fixed
// fields and byte strings prefixed with a u32 length, in declaration order.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "logging_channel/messages.h"
#include "vmm/result.h"

namespace ftvm::channel {

inline constexpr size_t kMaxHelloPayloadBytes =
    4 + (4 + kMaxVmIdBytes) + 8 + (4 + kMaxTraceHeaderBytes) + (4 + kMaxGuestImageBytes);
inline constexpr size_t kMaxLogChunkPayloadBytes = 8 + 8 + (4 + kMaxLogChunkBytes);
inline constexpr size_t kMaxStatePagesPayloadBytes =
    4 + 4 + kMaxStatePagesPerMessage * (8 + 4) + (4 + kMaxStatePagesCompressedBytes);
inline constexpr size_t kMaxStateDonePayloadBytes =
    4 + 8 + 1 + (4 + kMaxTransferredConsoleInputBytes) + (4 + kMaxMachineStateBytes) + 5 * 8 +
    kMaxVirtioStatesPayloadBytes;
inline constexpr size_t kMaxMessagePayloadBytes =
    std::max({kMaxHelloPayloadBytes, kMaxLogChunkPayloadBytes, kMaxStatePagesPayloadBytes,
              kMaxStateDonePayloadBytes});

// Whether every field of `m` is within its bound; the error names the message and field.
// Senders check what they did not construct themselves (a guest image, a trace header).
Result<void> check_bounds(const Message& m);

// Encodes the payload of `m`, which must be within its bounds (check_bounds): a message over
// them is a bug in the sender and stops the process with a report.
std::vector<uint8_t> encode_payload(const Message& m);

// Decodes a payload of the message type given by the raw frame type byte. Rejects unknown
// types, short payloads, lengths over a bound and trailing bytes, naming the message and
// field.
Result<Message> decode_payload(uint8_t type, std::span<const uint8_t> payload);

// The backup's check of a Hello it decoded: a peer of another protocol version cannot be
// followed.
Result<void> check_protocol_version(const Hello& hello);

}  // namespace ftvm::channel
