// The Redis service's append-only log on the guest's disk (the format, its region and the
// replay scan are log_record.h): with a disk, every change to the service's table is written
// and flushed as a record before the client gets its reply, and the log is replayed into the
// table at boot, before the service answers anyone. Without a disk, nothing is logged.
//
// The net thread (the service's) calls both, blocking on the disk like the disk workload does;
// virtio_blk serializes their requests.
#pragma once

#include <stdint.h>

#include "kernel/resp.h"

namespace testsvc::kernel::store_log {

// Replays the disk's log into `store` (empty before), then wipes what a torn last record may
// have left behind it. Does nothing without a disk.
void Replay(resp::Store& store);

// Writes `mutation` as the next record and flushes it: kOk once durable (and without a disk),
// kFull when it does not fit the region, kError after an I/O error (the log then takes nothing
// more: what a failed write left on the disk is unknown, and nothing may be written after it).
resp::LogResult Append(const resp::Mutation& mutation);

struct Stats {
  uint64_t replayed = 0;        // records replayed at boot
  uint64_t appended = 0;        // records written since
  uint64_t used_sectors = 0;    // of the region, by all of them
  uint64_t region_sectors = 0;  // 0 without a disk
};
Stats GetStats();

// The service's Log (resp.h).
struct DiskLog {
  resp::LogResult Append(const resp::Mutation& mutation) { return store_log::Append(mutation); }
};

}  // namespace testsvc::kernel::store_log
