#include "kernel/store_log.h"

#include "kernel/cpu.h"
#include "kernel/log_record.h"
#include "kernel/virtio_blk.h"

namespace testsvc::kernel::store_log {
namespace {

// One record at a time, only ever from the net thread.
alignas(512) constinit uint8_t g_record[kLogMaxRecordBytes] = {};
constinit uint64_t g_region_start = 0;
constinit uint64_t g_region_sectors = 0;
constinit uint64_t g_next_sector = 0;  // in the region
constinit uint64_t g_next_sequence = 0;
constinit bool g_broken = false;
// Read by the service thread for `disk`: counted under IrqGuard, so it sees both or neither.
constinit Stats g_stats = {};

void CountAppended(uint64_t sectors) {
  IrqGuard guard;
  ++g_stats.appended;
  g_stats.used_sectors += sectors;
}

bool ReadRegion(uint64_t first, uint8_t* into, size_t count) {
  return virtio_blk::Read(g_region_start + first, into,
                          static_cast<uint32_t>(count * kLogSectorBytes)) == 0;
}

// A torn last record (its first sector not written, or not all of it) can leave whole sectors
// of payload behind the log's end, where later records would be written before them and replay
// could then take them for one. No record is longer than kLogMaxRecordSectors: those after the
// end are zeroed, unless they are already.
void WipeBehindTheEnd() {
  uint64_t count = g_region_sectors - g_next_sector;
  if (count > kLogMaxRecordSectors) count = kLogMaxRecordSectors;
  if (count == 0) return;
  if (!ReadRegion(g_next_sector, g_record, count)) {
    g_broken = true;
    return;
  }
  if (AllZero(g_record, count * kLogSectorBytes)) return;
  for (size_t i = 0; i < count * kLogSectorBytes; ++i) g_record[i] = 0;
  if (virtio_blk::Write(g_region_start + g_next_sector, g_record,
                        static_cast<uint32_t>(count * kLogSectorBytes)) != 0 ||
      virtio_blk::Flush() != 0) {
    g_broken = true;
  }
}

}  // namespace

void Replay(resp::Store& store) {
  if (!virtio_blk::Present()) return;
  const uint64_t sectors = virtio_blk::Sectors();
  g_region_start = LogRegionStart(sectors);
  g_region_sectors = sectors - g_region_start;
  {
    IrqGuard guard;
    g_stats.region_sectors = g_region_sectors;
  }
  const LogScan scan =
      ScanLog(g_region_sectors, g_record, &ReadRegion,
              [&](const resp::Mutation& mutation) { resp::Apply(mutation, store); });
  {
    IrqGuard guard;
    g_stats.replayed = scan.records;
    g_stats.used_sectors = scan.sectors;
  }
  g_next_sector = scan.sectors;
  g_next_sequence = scan.records;
  if (scan.end == LogEnd::kReadError) {
    g_broken = true;
    return;
  }
  WipeBehindTheEnd();
}

resp::LogResult Append(const resp::Mutation& mutation) {
  if (!virtio_blk::Present()) return resp::LogResult::kOk;
  if (g_broken) return resp::LogResult::kError;
  const size_t sectors = EncodeLogRecord(g_next_sequence, mutation, g_record);
  if (sectors == 0) return resp::LogResult::kError;
  if (sectors > g_region_sectors - g_next_sector) return resp::LogResult::kFull;
  if (virtio_blk::Write(g_region_start + g_next_sector, g_record,
                        static_cast<uint32_t>(sectors * kLogSectorBytes)) != 0 ||
      virtio_blk::Flush() != 0) {
    g_broken = true;
    return resp::LogResult::kError;
  }
  g_next_sector += sectors;
  ++g_next_sequence;
  CountAppended(sectors);
  return resp::LogResult::kOk;
}

Stats GetStats() {
  IrqGuard guard;
  return g_stats;
}

}  // namespace testsvc::kernel::store_log
