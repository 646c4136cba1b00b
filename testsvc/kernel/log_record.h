// The Redis service's append-only log on the guest's disk (store_log.h writes and replays it):
// its place on the disk, its records, and the scan that replays them at boot. Pure and
// header-only, so the host tests exactly what the guest runs.
//
// The disk is split in two: the disk workload's records (disk_record.h) grow from sector 0 up
// to the half, the log takes the second half, [capacity / 2, capacity), and grows from its
// start. Neither ever writes into the other's half.
//
// A record is one mutation of the table (resp::Mutation) in whole sectors, at most
// kLogMaxRecordSectors, the next right after it:
//
//   offset  size
//        0     8  magic "FTVMLOG1"
//        8     8  sequence number: 0 for the log's first record, then +1 each
//       16     4  payload bytes
//       20     4  zero
//       24     8  FNV-1a 64 of bytes 0..23, then of bytes 32 up to the end of the last sector
//       32     n  payload: kind (1 byte: 1 SET, 2 DEL, 3 FLUSHALL), count (1 byte), then
//                 `count` times a length (2 bytes) and that many bytes: SET key value, DEL the
//                 keys, FLUSHALL none
//   32 + n        zeros up to the end of the last sector (checksummed too)
//
// All numbers little-endian. The checksum covers the padding as well, so a record written only
// in part (a torn write: some of its sectors new, the rest whatever was there) does not check.
//
// Replay reads records from the region's start while each is the next one: the magic, the
// expected sequence number, a length that fits the region and kLogMaxRecordSectors, the
// checksum, and a payload that decodes (kinds, counts, lengths within the payload, keys and
// values within the table's limits). The first sector that is not all that ends the log:
// all zero (never written: the usual end, and a fresh disk's empty log), torn, stale, garbage.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernel/disk_record.h"
#include "kernel/resp.h"

namespace testsvc::kernel {

inline constexpr size_t kLogSectorBytes = 512;
inline constexpr uint64_t kLogMagic = 0x31474f4c4d565446;  // "FTVMLOG1" little-endian
inline constexpr size_t kLogHeaderBytes = 32;
inline constexpr size_t kLogMaxRecordSectors = 16;
inline constexpr size_t kLogMaxRecordBytes = kLogMaxRecordSectors * kLogSectorBytes;
inline constexpr size_t kLogMaxPayloadBytes = kLogMaxRecordBytes - kLogHeaderBytes;

// The largest mutation (a DEL of kMaxArgs - 1 distinct keys of kMaxKeyBytes) fits one record.
static_assert(2 + (resp::kMaxArgs - 1) * (2 + resp::kMaxKeyBytes) <= kLogMaxPayloadBytes);
static_assert(2 + 2 * 2 + resp::kMaxKeyBytes + resp::kMaxValueBytes <= kLogMaxPayloadBytes);

// The log's region on a disk of `disk_sectors`: [LogRegionStart, disk_sectors).
constexpr uint64_t LogRegionStart(uint64_t disk_sectors) {
  return disk_sectors / 2;
}

constexpr size_t LogRecordSectors(size_t payload_bytes) {
  return (kLogHeaderBytes + payload_bytes + kLogSectorBytes - 1) / kLogSectorBytes;
}

constexpr uint64_t LogChecksum(const uint8_t* record, size_t sectors) {
  uint64_t hash = RecordFnv1a(record, 24);
  for (size_t i = kLogHeaderBytes; i < sectors * kLogSectorBytes; ++i) {
    hash ^= record[i];
    hash *= 0x100000001b3ull;
  }
  return hash;
}

// Writes the record of `mutation` with `sequence` into `record` (kLogMaxRecordBytes); its size
// in sectors, 0 if the mutation cannot be a record (too large, or not a valid mutation).
constexpr size_t EncodeLogRecord(uint64_t sequence, const resp::Mutation& mutation,
                                 uint8_t* record) {
  if (mutation.count > 0xff) return 0;
  if (mutation.kind == resp::MutationKind::kSet && mutation.count != 2) return 0;
  if (mutation.kind == resp::MutationKind::kDelete && mutation.count == 0) return 0;
  if (mutation.kind == resp::MutationKind::kFlushAll && mutation.count != 0) return 0;
  size_t at = kLogHeaderBytes;
  record[at++] = static_cast<uint8_t>(mutation.kind);
  record[at++] = static_cast<uint8_t>(mutation.count);
  for (size_t i = 0; i < mutation.count; ++i) {
    const resp::Arg& arg = mutation.args[i];
    if (arg.size > 0xffff || kLogMaxRecordBytes - at < 2 + arg.size) return 0;
    record[at++] = static_cast<uint8_t>(arg.size);
    record[at++] = static_cast<uint8_t>(arg.size >> 8);
    for (size_t j = 0; j < arg.size; ++j) record[at++] = arg.data[j];
  }
  const size_t payload = at - kLogHeaderBytes;
  const size_t sectors = LogRecordSectors(payload);
  for (; at < sectors * kLogSectorBytes; ++at) record[at] = 0;
  StoreRecordU64(record, kLogMagic);
  StoreRecordU64(record + 8, sequence);
  StoreRecordU64(record + 16, payload);  // and the 4 zero bytes after it
  StoreRecordU64(record + 24, LogChecksum(record, sectors));
  return sectors;
}

// Decodes a payload into `mutation`, its arguments in `args` (resp::kMaxArgs) pointing into
// `payload`. False if it is not one the service could have logged.
constexpr bool DecodeLogPayload(const uint8_t* payload, size_t size, resp::Arg* args,
                                resp::Mutation* mutation) {
  if (size < 2) return false;
  const uint8_t kind = payload[0];
  const size_t count = payload[1];
  if (count > resp::kMaxArgs) return false;
  size_t at = 2;
  for (size_t i = 0; i < count; ++i) {
    if (size - at < 2) return false;
    const size_t length = payload[at] | (size_t{payload[at + 1]} << 8);
    at += 2;
    if (size - at < length) return false;
    args[i] = {payload + at, length};
    at += length;
  }
  if (at != size) return false;
  switch (kind) {
    case static_cast<uint8_t>(resp::MutationKind::kSet):
      if (count != 2 || args[0].size > resp::kMaxKeyBytes || args[1].size > resp::kMaxValueBytes) {
        return false;
      }
      break;
    case static_cast<uint8_t>(resp::MutationKind::kDelete):
      if (count == 0) return false;
      for (size_t i = 0; i < count; ++i) {
        if (args[i].size > resp::kMaxKeyBytes) return false;
      }
      break;
    case static_cast<uint8_t>(resp::MutationKind::kFlushAll):
      if (count != 0) return false;
      break;
    default:
      return false;
  }
  *mutation = {static_cast<resp::MutationKind>(kind), args, count};
  return true;
}

// Why a scan stopped.
enum class LogEnd : uint8_t {
  kEmpty,          // an all-zero sector: never written (the usual end)
  kRegionEnd,      // the region is used up to its last sector
  kBadMagic,       // garbage, or the remains of something else
  kWrongSequence,  // a record, but not the next one (stale, or a gap)
  kBadLength,      // a length beyond the region or kLogMaxRecordSectors
  kBadChecksum,    // torn, or damaged
  kBadPayload,     // checks, but is no mutation the service logs
  kReadError,      // the disk did not answer
};

constexpr const char* LogEndName(LogEnd end) {
  switch (end) {
    case LogEnd::kEmpty:
      return "empty";
    case LogEnd::kRegionEnd:
      return "region end";
    case LogEnd::kBadMagic:
      return "bad magic";
    case LogEnd::kWrongSequence:
      return "wrong sequence";
    case LogEnd::kBadLength:
      return "bad length";
    case LogEnd::kBadChecksum:
      return "bad checksum";
    case LogEnd::kBadPayload:
      return "bad payload";
    case LogEnd::kReadError:
      return "read error";
  }
  return "?";
}

struct LogScan {
  uint64_t records = 0;  // valid records, in order from sequence 0
  uint64_t sectors = 0;  // the sectors they take: the next record goes there
  LogEnd end = LogEnd::kEmpty;
};

constexpr bool AllZero(const uint8_t* bytes, size_t size) {
  for (size_t i = 0; i < size; ++i) {
    if (bytes[i] != 0) return false;
  }
  return true;
}

// Reads the log of a region of `region_sectors` sectors and hands each valid record's mutation,
// in order, to `visit(const resp::Mutation&)`. `read(uint64_t first, uint8_t* into, size_t
// count)` reads `count` sectors from the region's sector `first` (0 is the region's start) and
// returns false on an I/O error; `buffer` holds kLogMaxRecordBytes. Reads at most the region.
template <typename Read, typename Visit>
LogScan ScanLog(uint64_t region_sectors, uint8_t* buffer, Read&& read, Visit&& visit) {
  LogScan scan;
  resp::Arg args[resp::kMaxArgs];
  for (;;) {
    if (scan.sectors >= region_sectors) {
      scan.end = LogEnd::kRegionEnd;
      return scan;
    }
    if (!read(scan.sectors, buffer, 1)) {
      scan.end = LogEnd::kReadError;
      return scan;
    }
    if (AllZero(buffer, kLogSectorBytes)) {
      scan.end = LogEnd::kEmpty;
      return scan;
    }
    if (LoadRecordU64(buffer) != kLogMagic) {
      scan.end = LogEnd::kBadMagic;
      return scan;
    }
    if (LoadRecordU64(buffer + 8) != scan.records) {
      scan.end = LogEnd::kWrongSequence;
      return scan;
    }
    const uint64_t payload = LoadRecordU64(buffer + 16);
    if (payload > kLogMaxPayloadBytes) {
      scan.end = LogEnd::kBadLength;
      return scan;
    }
    const size_t sectors = LogRecordSectors(static_cast<size_t>(payload));
    if (sectors > region_sectors - scan.sectors) {
      scan.end = LogEnd::kBadLength;
      return scan;
    }
    if (sectors > 1 && !read(scan.sectors + 1, buffer + kLogSectorBytes, sectors - 1)) {
      scan.end = LogEnd::kReadError;
      return scan;
    }
    if (LoadRecordU64(buffer + 24) != LogChecksum(buffer, sectors)) {
      scan.end = LogEnd::kBadChecksum;
      return scan;
    }
    resp::Mutation mutation;
    if (!DecodeLogPayload(buffer + kLogHeaderBytes, static_cast<size_t>(payload), args,
                          &mutation)) {
      scan.end = LogEnd::kBadPayload;
      return scan;
    }
    visit(static_cast<const resp::Mutation&>(mutation));
    ++scan.records;
    scan.sectors += sectors;
  }
}

}  // namespace testsvc::kernel
