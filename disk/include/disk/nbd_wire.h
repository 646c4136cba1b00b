// The NBD protocol's numbers (https://github.com/NetworkBlockDevice/nbd, doc/proto.md): the
// subset ftvm's disk server speaks (docs/disk-server.md). All integers travel big-endian.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace ftvm::disk::nbd {

inline constexpr uint64_t kInitMagic = 0x4e42444d41474943;    // "NBDMAGIC"
inline constexpr uint64_t kOptionMagic = 0x49484156454f5054;  // "IHAVEOPT"
inline constexpr uint64_t kOptionReplyMagic = 0x3e889045565a9;
inline constexpr uint32_t kRequestMagic = 0x25609513;
inline constexpr uint32_t kSimpleReplyMagic = 0x67446698;
inline constexpr uint32_t kStructuredReplyMagic = 0x668e33ef;

// Handshake flags (server) and client flags.
inline constexpr uint16_t kFlagFixedNewstyle = 1;
inline constexpr uint16_t kFlagNoZeroes = 2;
inline constexpr uint32_t kClientFlagFixedNewstyle = 1;
inline constexpr uint32_t kClientFlagNoZeroes = 2;

enum Option : uint32_t {
  kOptExportName = 1,
  kOptAbort = 2,
  kOptList = 3,
  kOptStartTls = 5,
  kOptInfo = 6,
  kOptGo = 7,
  kOptStructuredReply = 8,
  kOptListMetaContext = 9,
  kOptSetMetaContext = 10,
};

enum OptionReply : uint32_t {
  kRepAck = 1,
  kRepServer = 2,
  kRepInfo = 3,
  kRepErrUnsup = (1u << 31) + 1,
  kRepErrPolicy = (1u << 31) + 2,
  kRepErrInvalid = (1u << 31) + 3,
  kRepErrUnknown = (1u << 31) + 6,
  kRepErrTooBig = (1u << 31) + 9,
};

inline constexpr uint16_t kInfoExport = 0;
inline constexpr uint16_t kInfoBlockSize = 3;

// Transmission flags.
inline constexpr uint16_t kTxHasFlags = 1;
inline constexpr uint16_t kTxReadOnly = 2;
inline constexpr uint16_t kTxSendFlush = 4;
inline constexpr uint16_t kTxSendFua = 8;
inline constexpr uint16_t kTxSendTrim = 32;
inline constexpr uint16_t kTxSendWriteZeroes = 64;
inline constexpr uint16_t kTxCanMultiConn = 256;

enum Command : uint16_t {
  kCmdRead = 0,
  kCmdWrite = 1,
  kCmdDisc = 2,
  kCmdFlush = 3,
  kCmdTrim = 4,
  kCmdCache = 5,
  kCmdWriteZeroes = 6,
  kCmdBlockStatus = 7,
};

inline constexpr uint16_t kCmdFlagFua = 1;
inline constexpr uint16_t kCmdFlagNoHole = 2;

enum Errno : uint32_t {
  kOk = 0,
  kEperm = 1,
  kEio = 5,
  kEnomem = 12,
  kEinval = 22,
  kEnospc = 28,
  kEoverflow = 75,
  kEnotsup = 95,
  kEshutdown = 108,
};

inline constexpr uint16_t kReplyFlagDone = 1;
inline constexpr uint16_t kReplyTypeNone = 0;
inline constexpr uint16_t kReplyTypeOffsetData = 1;
inline constexpr uint16_t kReplyTypeError = (1u << 15) + 1;

inline constexpr size_t kRequestHeaderBytes = 28;
inline constexpr size_t kOptionHeaderBytes = 16;

template <typename T>
void put_be(std::vector<uint8_t>& out, T value) {
  for (size_t i = sizeof(T); i-- > 0;) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

template <typename T>
T load_be(const uint8_t* bytes) {
  T value = 0;
  for (size_t i = 0; i < sizeof(T); ++i) value = static_cast<T>((value << 8) | bytes[i]);
  return value;
}

}  // namespace ftvm::disk::nbd
