// The records the disk workload writes (disk.h): one 512-byte sector each, numbered from 0 at
// sector `sequence`, self-checking, so that whoever reads the image (the guest's `disk
// verify`, a test with nbdcopy after a failover) can tell a whole record from a torn, stale or
// misplaced one. Pure and header-only, so the host tests it.
//
//   offset  size
//        0     8  magic "FTVMDISK"
//        8     8  sequence number (the record's sector)
//       16     8  the tick it was written at
//       24   480  filler derived from the sequence number
//      504     8  FNV-1a 64 of bytes 0..503
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace testsvc::kernel {

inline constexpr size_t kDiskRecordBytes = 512;
inline constexpr uint64_t kDiskRecordMagic = 0x4b5349444d565446;  // "FTVMDISK" little-endian

enum class RecordCheck { kOk, kBadMagic, kWrongSequence, kBadChecksum };

constexpr uint64_t RecordFnv1a(const uint8_t* bytes, size_t size) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= 0x100000001b3ull;
  }
  return hash;
}

constexpr void StoreRecordU64(uint8_t* at, uint64_t value) {
  for (int i = 0; i < 8; ++i) at[i] = static_cast<uint8_t>(value >> (8 * i));
}

constexpr uint64_t LoadRecordU64(const uint8_t* at) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | at[i];
  return value;
}

constexpr void MakeRecord(uint64_t sequence, uint64_t tick, uint8_t* sector) {
  StoreRecordU64(sector, kDiskRecordMagic);
  StoreRecordU64(sector + 8, sequence);
  StoreRecordU64(sector + 16, tick);
  for (size_t i = 24; i < 504; ++i) sector[i] = static_cast<uint8_t>(sequence * 31 + i);
  StoreRecordU64(sector + 504, RecordFnv1a(sector, 504));
}

constexpr RecordCheck CheckRecord(const uint8_t* sector, uint64_t expected_sequence) {
  if (LoadRecordU64(sector) != kDiskRecordMagic) return RecordCheck::kBadMagic;
  if (LoadRecordU64(sector + 504) != RecordFnv1a(sector, 504)) return RecordCheck::kBadChecksum;
  if (LoadRecordU64(sector + 8) != expected_sequence) return RecordCheck::kWrongSequence;
  return RecordCheck::kOk;
}

constexpr const char* RecordCheckName(RecordCheck check) {
  switch (check) {
    case RecordCheck::kOk:
      return "ok";
    case RecordCheck::kBadMagic:
      return "no record (bad magic)";
    case RecordCheck::kWrongSequence:
      return "another record's number";
    case RecordCheck::kBadChecksum:
      return "torn (bad checksum)";
  }
  return "?";
}

}  // namespace testsvc::kernel
