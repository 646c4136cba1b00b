// The disk workload: a thread that, while on, writes numbered, self-checking records
// (disk_record.h) to the virtio-blk disk, one sector each from sector 0 up to the half (the
// second half is the Redis service's log, store_log.h), flushing after each
// so a record counts as written only once it is durable; and that verifies on request every
// record written so far, answering on the console itself.
//
//   disk           > disk on|off records=<n> errors=<n> sectors=<n> log_replayed=<n>
//                    log_appended=<n> log_sectors=<used>/<size>   (one line; or "> disk none")
//   disk on|off    > disk on|off
//   disk verify    > disk verify ok records=<n>
//                  > disk verify FAILED at record <n>: <why>
//   disk burst N   > disk burst records=<n> ticks=<t> errors=<e>
//                  (N more records back to back, each written and flushed before the next:
//                  what a benchmark times; fewer where the disk fills up)
#pragma once

#include <stdint.h>

namespace testsvc::kernel::disk {

// Starts the thread if the VM has a disk.
void Start();
bool Present();
bool Enabled();
void SetEnabled(bool enabled);
// The disk thread verifies and prints the result line.
void RequestVerify();
// The disk thread writes `count` records at once and prints the result line.
void RequestBurst(uint64_t count);
uint64_t Records();
uint64_t Errors();
uint64_t Sectors();

}  // namespace testsvc::kernel::disk
