// The Redis service's append-only log (kernel/log_record.h) and how the service uses it
// (kernel/resp.h): what the service logs, what a refused log does, and that a disk image's log
// replays into the same table, stopping cleanly at the first sector that is not the next record.
#include "kernel/log_record.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "resp_test_support.h"

namespace testsvc::kernel {
namespace {

using resp::testing::Array;
using resp::testing::Output;

using resp::Arg;
using resp::LogResult;
using resp::Mutation;
using resp::MutationKind;
using resp::Store;

Arg A(const std::string& text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string Text(const Arg& arg) {
  return {reinterpret_cast<const char*>(arg.data), arg.size};
}

// A log region in memory, written the way the guest writes it.
struct Region {
  explicit Region(size_t sectors) : bytes(sectors * kLogSectorBytes) {}

  size_t sectors() const { return bytes.size() / kLogSectorBytes; }
  uint8_t* sector(size_t n) { return bytes.data() + n * kLogSectorBytes; }

  // Appends like store_log::Append: false when full or not encodable.
  bool Append(const Mutation& mutation) {
    uint8_t record[kLogMaxRecordBytes];
    const size_t count = EncodeLogRecord(next_sequence, mutation, record);
    if (count == 0 || count > sectors() - next_sector) return false;
    std::copy(record, record + count * kLogSectorBytes, sector(next_sector));
    next_sector += count;
    ++next_sequence;
    return true;
  }

  // Replays into `store`; the reads stay within the region (checked).
  LogScan Replay(Store& store) {
    std::vector<uint8_t> buffer(kLogMaxRecordBytes);
    return ScanLog(
        sectors(), buffer.data(),
        [&](uint64_t first, uint8_t* into, size_t count) {
          EXPECT_LE(first + count, sectors());
          if (first + count > sectors()) return false;
          std::copy(sector(first), sector(first) + count * kLogSectorBytes, into);
          return true;
        },
        [&](const Mutation& mutation) { resp::Apply(mutation, store); });
  }

  std::vector<uint8_t> bytes;
  uint64_t next_sector = 0;
  uint64_t next_sequence = 0;
};

// The service's Log, writing to a Region (or refusing, when `refuse` says so).
struct RegionLog {
  explicit RegionLog(Region* into) : region(into) {}
  LogResult Append(const Mutation& mutation) {
    if (refuse != LogResult::kOk) return refuse;
    appended.push_back(mutation.kind);
    return region->Append(mutation) ? LogResult::kOk : LogResult::kFull;
  }
  Region* region;
  LogResult refuse = LogResult::kOk;
  std::vector<MutationKind> appended;
};

// The reply to one request, served with `log`.
std::string Request(Store& store, RegionLog& log, std::initializer_list<std::string> args) {
  const std::string request = Array(args);
  Output out;
  const resp::ServeResult result = resp::Serve(reinterpret_cast<const uint8_t*>(request.data()),
                                               request.size(), false, store, log, out);
  EXPECT_EQ(result.consumed, request.size());
  return out.text;
}

std::string Get(const Store& store, const std::string& key) {
  const resp::Entry* entry = store.Find(A(key).data, key.size());
  if (entry == nullptr) return "(nil)";
  return {reinterpret_cast<const char*>(entry->value), entry->value_size};
}

// ---- Records ----------------------------------------------------------------------------

TEST(LogRecordTest, ASetRoundTrips) {
  uint8_t record[kLogMaxRecordBytes];
  const std::string key = "greeting";
  const std::string value = "hello world";
  const Arg args[] = {A(key), A(value)};
  ASSERT_EQ(EncodeLogRecord(7, {MutationKind::kSet, args, 2}, record), 1u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(record), 8), "FTVMLOG1");
  EXPECT_EQ(LoadRecordU64(record + 8), 7u);
  EXPECT_EQ(LoadRecordU64(record + 16), 2u + 2 + key.size() + 2 + value.size());
  EXPECT_EQ(LoadRecordU64(record + 24), LogChecksum(record, 1));
  Arg decoded[resp::kMaxArgs];
  Mutation mutation;
  ASSERT_TRUE(
      DecodeLogPayload(record + kLogHeaderBytes, LoadRecordU64(record + 16), decoded, &mutation));
  EXPECT_EQ(mutation.kind, MutationKind::kSet);
  ASSERT_EQ(mutation.count, 2u);
  EXPECT_EQ(Text(mutation.args[0]), key);
  EXPECT_EQ(Text(mutation.args[1]), value);
}

TEST(LogRecordTest, TheLargestDeleteSpansSeveralSectorsAndRoundTrips) {
  std::vector<std::string> keys;
  for (size_t i = 0; i < resp::kMaxArgs - 1; ++i) {
    keys.push_back(std::string(resp::kMaxKeyBytes - 3, 'k') + std::to_string(100 + i));
  }
  std::vector<Arg> args;
  for (const std::string& key : keys) args.push_back(A(key));
  uint8_t record[kLogMaxRecordBytes];
  const size_t sectors =
      EncodeLogRecord(0, {MutationKind::kDelete, args.data(), args.size()}, record);
  ASSERT_GT(sectors, 1u);
  ASSERT_LE(sectors, kLogMaxRecordSectors);
  Arg decoded[resp::kMaxArgs];
  Mutation mutation;
  ASSERT_TRUE(
      DecodeLogPayload(record + kLogHeaderBytes, LoadRecordU64(record + 16), decoded, &mutation));
  ASSERT_EQ(mutation.count, keys.size());
  for (size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(Text(mutation.args[i]), keys[i]);
}

TEST(LogRecordTest, WhatTheServiceNeverLogsIsNoRecord) {
  uint8_t record[kLogMaxRecordBytes];
  const std::string key = "k";
  const Arg one[] = {A(key)};
  EXPECT_EQ(EncodeLogRecord(0, {MutationKind::kSet, one, 1}, record), 0u);
  EXPECT_EQ(EncodeLogRecord(0, {MutationKind::kDelete, one, 0}, record), 0u);
  EXPECT_EQ(EncodeLogRecord(0, {MutationKind::kFlushAll, one, 1}, record), 0u);
  const std::string huge(kLogMaxRecordBytes, 'x');
  const Arg too_big[] = {A(key), A(huge)};
  EXPECT_EQ(EncodeLogRecord(0, {MutationKind::kSet, too_big, 2}, record), 0u);
}

// ---- Replay -----------------------------------------------------------------------------

TEST(LogReplayTest, AFreshRegionIsAnEmptyLog) {
  Region region(64);
  Store store;
  const LogScan scan = region.Replay(store);
  EXPECT_EQ(scan.records, 0u);
  EXPECT_EQ(scan.sectors, 0u);
  EXPECT_EQ(scan.end, LogEnd::kEmpty);
  EXPECT_EQ(store.size(), 0u);
}

TEST(LogReplayTest, TheServicesChangesReplayIntoTheSameTable) {
  Region region(64);
  auto store = std::make_unique<Store>();
  RegionLog log(&region);
  EXPECT_EQ(Request(*store, log, {"SET", "k", "v"}), "+OK\r\n");
  EXPECT_EQ(Request(*store, log, {"INCR", "n"}), ":1\r\n");
  EXPECT_EQ(Request(*store, log, {"INCRBY", "n", "41"}), ":42\r\n");
  EXPECT_EQ(Request(*store, log, {"SET", "gone", "x"}), "+OK\r\n");
  EXPECT_EQ(Request(*store, log, {"DEL", "gone", "missing", "gone"}), ":1\r\n");
  EXPECT_EQ(Request(*store, log, {"GET", "k"}), "$1\r\nv\r\n");
  EXPECT_EQ(Request(*store, log, {"EXISTS", "k"}), ":1\r\n");
  // Reads and changes that change nothing are not logged.
  EXPECT_EQ(Request(*store, log, {"DEL", "missing"}), ":0\r\n");
  EXPECT_EQ(Request(*store, log, {"SET", "k", "v", "EX", "1"}), "-ERR syntax error\r\n");
  EXPECT_EQ(Request(*store, log, {"INCR", "k"}),
            "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(log.appended.size(), 5u);
  EXPECT_EQ(log.appended[1], MutationKind::kSet);  // INCR n: the SET of its result
  EXPECT_EQ(log.appended[4], MutationKind::kDelete);

  auto replayed = std::make_unique<Store>();
  const LogScan scan = region.Replay(*replayed);
  EXPECT_EQ(scan.records, 5u);
  EXPECT_EQ(scan.sectors, 5u);
  EXPECT_EQ(scan.end, LogEnd::kEmpty);
  EXPECT_EQ(replayed->size(), 2u);
  EXPECT_EQ(Get(*replayed, "k"), "v");
  EXPECT_EQ(Get(*replayed, "n"), "42");
  EXPECT_EQ(Get(*replayed, "gone"), "(nil)");
}

TEST(LogReplayTest, AFlushAllReplaysInItsPlace) {
  Region region(64);
  auto store = std::make_unique<Store>();
  RegionLog log(&region);
  Request(*store, log, {"SET", "before", "1"});
  Request(*store, log, {"SET", "k", "old"});
  EXPECT_EQ(Request(*store, log, {"FLUSHALL"}), "+OK\r\n");
  Request(*store, log, {"SET", "k", "new"});
  Request(*store, log, {"SET", "after", "2"});
  auto replayed = std::make_unique<Store>();
  EXPECT_EQ(region.Replay(*replayed).records, 5u);
  EXPECT_EQ(replayed->size(), 2u);
  EXPECT_EQ(Get(*replayed, "before"), "(nil)");
  EXPECT_EQ(Get(*replayed, "k"), "new");
  EXPECT_EQ(Get(*replayed, "after"), "2");
}

TEST(LogReplayTest, ARefusedLogChangesNothingAndSaysWhy) {
  Region region(64);
  auto store = std::make_unique<Store>();
  RegionLog log(&region);
  Request(*store, log, {"SET", "k", "v"});
  Request(*store, log, {"SET", "n", "5"});
  log.refuse = LogResult::kFull;
  EXPECT_EQ(Request(*store, log, {"SET", "k", "w"}), "-ERR disk log full\r\n");
  EXPECT_EQ(Request(*store, log, {"INCR", "n"}), "-ERR disk log full\r\n");
  EXPECT_EQ(Request(*store, log, {"DEL", "k"}), "-ERR disk log full\r\n");
  EXPECT_EQ(Request(*store, log, {"FLUSHALL"}), "-ERR disk log full\r\n");
  log.refuse = LogResult::kError;
  EXPECT_EQ(Request(*store, log, {"SET", "k", "w"}), "-ERR disk log error\r\n");
  EXPECT_EQ(Request(*store, log, {"GET", "k"}), "$1\r\nv\r\n");
  EXPECT_EQ(Get(*store, "n"), "5");
  EXPECT_EQ(store->size(), 2u);
}

TEST(LogReplayTest, AFullRegionRefusesTheNextChangeAndReplaysToItsEnd) {
  Region region(3);
  auto store = std::make_unique<Store>();
  RegionLog log(&region);
  EXPECT_EQ(Request(*store, log, {"SET", "a", "1"}), "+OK\r\n");
  EXPECT_EQ(Request(*store, log, {"SET", "b", "2"}), "+OK\r\n");
  EXPECT_EQ(Request(*store, log, {"SET", "c", "3"}), "+OK\r\n");
  EXPECT_EQ(Request(*store, log, {"SET", "d", "4"}), "-ERR disk log full\r\n");
  EXPECT_EQ(Get(*store, "d"), "(nil)");
  auto replayed = std::make_unique<Store>();
  const LogScan scan = region.Replay(*replayed);
  EXPECT_EQ(scan.records, 3u);
  EXPECT_EQ(scan.end, LogEnd::kRegionEnd);
  EXPECT_EQ(Get(*replayed, "c"), "3");
}

// A DEL of ten long keys: a record of two sectors.
bool AppendLongDelete(Region& region) {
  std::vector<std::string> keys;
  for (char c = 'a'; c < 'a' + 10; ++c) keys.push_back(std::string(resp::kMaxKeyBytes, c));
  std::vector<Arg> args;
  for (const std::string& key : keys) args.push_back(A(key));
  const uint64_t before = region.next_sector;
  return region.Append({MutationKind::kDelete, args.data(), args.size()}) &&
         region.next_sector == before + 2;
}

TEST(LogReplayTest, ARecordReachingBeyondTheRegionEndsTheLog) {
  Region big(16);
  ASSERT_TRUE(AppendLongDelete(big));
  Region small(1);
  std::copy(big.bytes.begin(), big.bytes.begin() + kLogSectorBytes, small.bytes.begin());
  auto store = std::make_unique<Store>();
  const LogScan scan = small.Replay(*store);  // reads nothing beyond the region (checked)
  EXPECT_EQ(scan.records, 0u);
  EXPECT_EQ(scan.end, LogEnd::kBadLength);
}

// A log of three records: SET one 1 (sector 0), a DEL of two sectors (1-2), SET three 3 (3).
Region ThreeRecords() {
  Region region(16);
  const std::string k1 = "one", v1 = "1", k3 = "three", v3 = "3";
  const Arg first[] = {A(k1), A(v1)};
  const Arg third[] = {A(k3), A(v3)};
  EXPECT_TRUE(region.Append({MutationKind::kSet, first, 2}));
  EXPECT_TRUE(AppendLongDelete(region));
  EXPECT_TRUE(region.Append({MutationKind::kSet, third, 2}));
  EXPECT_EQ(region.next_sector, 4u);
  return region;
}

TEST(LogReplayTest, ATornRecordEndsTheLogAndWhatCameBeforeStays) {
  {
    // The record's last sector never reached the disk.
    Region region = ThreeRecords();
    std::fill(region.sector(2), region.sector(3), 0);
    auto store = std::make_unique<Store>();
    const LogScan scan = region.Replay(*store);
    EXPECT_EQ(scan.records, 1u);
    EXPECT_EQ(scan.sectors, 1u);
    EXPECT_EQ(scan.end, LogEnd::kBadChecksum);
    EXPECT_EQ(Get(*store, "one"), "1");
    EXPECT_EQ(Get(*store, "three"), "(nil)");
  }
  {
    // Its first sector did not: the log ends there, like an unwritten one.
    Region region = ThreeRecords();
    std::fill(region.sector(1), region.sector(2), 0);
    auto store = std::make_unique<Store>();
    const LogScan scan = region.Replay(*store);
    EXPECT_EQ(scan.records, 1u);
    EXPECT_EQ(scan.end, LogEnd::kEmpty);
  }
}

TEST(LogReplayTest, AChecksumMismatchEndsTheLog) {
  for (const size_t offset : {size_t{8 * 0 + 20}, size_t{40}, size_t{kLogSectorBytes - 1}}) {
    SCOPED_TRACE(offset);
    Region region = ThreeRecords();
    region.sector(3)[offset] ^= 0x01;  // the third record: a flipped bit, padding included
    auto store = std::make_unique<Store>();
    const LogScan scan = region.Replay(*store);
    EXPECT_EQ(scan.records, 2u);
    EXPECT_EQ(scan.sectors, 3u);
    EXPECT_NE(scan.end, LogEnd::kEmpty);
    EXPECT_EQ(Get(*store, "one"), "1");
    EXPECT_EQ(Get(*store, "three"), "(nil)");
  }
  Region region = ThreeRecords();
  region.sector(3)[40] ^= 0x01;
  auto store = std::make_unique<Store>();
  EXPECT_EQ(region.Replay(*store).end, LogEnd::kBadChecksum);
}

TEST(LogReplayTest, ASequenceGapOrAStaleRecordEndsTheLog) {
  {
    // The third record numbered as if one were missing.
    Region region = ThreeRecords();
    Region other(16);
    other.next_sequence = 3;
    const std::string k = "three", v = "3";
    const Arg args[] = {A(k), A(v)};
    ASSERT_TRUE(other.Append({MutationKind::kSet, args, 2}));
    std::copy(other.sector(0), other.sector(1), region.sector(3));
    auto store = std::make_unique<Store>();
    const LogScan scan = region.Replay(*store);
    EXPECT_EQ(scan.records, 2u);
    EXPECT_EQ(scan.end, LogEnd::kWrongSequence);
    EXPECT_EQ(Get(*store, "three"), "(nil)");
  }
  {
    // A whole, valid record of an older log where the next should be.
    Region region = ThreeRecords();
    std::copy(region.sector(0), region.sector(1), region.sector(4));
    auto store = std::make_unique<Store>();
    const LogScan scan = region.Replay(*store);
    EXPECT_EQ(scan.records, 3u);
    EXPECT_EQ(scan.end, LogEnd::kWrongSequence);
  }
}

TEST(LogReplayTest, AWellFormedRecordWithAnImpossiblePayloadEndsTheLog) {
  Region region = ThreeRecords();
  // The third record with a key over the table's limit, checksummed as if genuine.
  uint8_t* record = region.sector(3);
  const std::string key(resp::kMaxKeyBytes + 1, 'k');
  const std::string value = "v";
  size_t at = kLogHeaderBytes;
  record[at++] = static_cast<uint8_t>(MutationKind::kSet);
  record[at++] = 2;
  for (const std::string* arg : {&key, &value}) {
    record[at++] = static_cast<uint8_t>(arg->size());
    record[at++] = 0;
    std::copy(arg->begin(), arg->end(), record + at);
    at += arg->size();
  }
  StoreRecordU64(record + 16, at - kLogHeaderBytes);
  std::fill(record + at, record + kLogSectorBytes, 0);
  StoreRecordU64(record + 24, LogChecksum(record, 1));
  auto store = std::make_unique<Store>();
  const LogScan scan = region.Replay(*store);
  EXPECT_EQ(scan.records, 2u);
  EXPECT_EQ(scan.end, LogEnd::kBadPayload);
}

// Bytes from outside: whatever a region holds, replay stays within it and ends.
TEST(LogReplayTest, GarbageNeverCrashesReplay) {
  std::mt19937_64 random(20260301);
  for (int round = 0; round < 300; ++round) {
    Region region = ThreeRecords();
    // Random bytes over random parts, sometimes with a plausible header, fixed checksum and all.
    const size_t first = random() % region.sectors();
    const size_t count = 1 + random() % 4;
    for (size_t i = first * kLogSectorBytes;
         i < std::min(region.bytes.size(), (first + count) * kLogSectorBytes); ++i) {
      region.bytes[i] = static_cast<uint8_t>(random());
    }
    if (round % 2 == 0) {
      uint8_t* record = region.sector(first);
      StoreRecordU64(record, kLogMagic);
      StoreRecordU64(record + 8, random() % 4);
      StoreRecordU64(record + 16, random() % (kLogMaxPayloadBytes + 64));
      const uint64_t payload = LoadRecordU64(record + 16);
      const size_t sectors =
          payload <= kLogMaxPayloadBytes ? LogRecordSectors(static_cast<size_t>(payload)) : 1;
      if (first + sectors <= region.sectors()) {
        StoreRecordU64(record + 24, LogChecksum(record, sectors));
      }
    }
    auto store = std::make_unique<Store>();
    const LogScan scan = region.Replay(*store);
    EXPECT_LE(scan.sectors, region.sectors());
    EXPECT_LE(scan.records, scan.sectors);
  }
  Region noise(32);
  for (uint8_t& byte : noise.bytes) byte = static_cast<uint8_t>(random());
  auto store = std::make_unique<Store>();
  const LogScan scan = noise.Replay(*store);
  EXPECT_EQ(scan.records, 0u);
  EXPECT_EQ(scan.end, LogEnd::kBadMagic);
}

TEST(LogRegionTest, TheLogTakesTheSecondHalf) {
  EXPECT_EQ(LogRegionStart(8192), 4096u);
  EXPECT_EQ(LogRegionStart(2049), 1024u);  // the odd sector goes to the log
  EXPECT_EQ(LogRegionStart(0), 0u);
}

}  // namespace
}  // namespace testsvc::kernel
