#include "kernel/disk.h"

#include "kernel/console.h"
#include "kernel/cpu.h"
#include "kernel/disk_record.h"
#include "kernel/log_record.h"
#include "kernel/pit.h"
#include "kernel/sched.h"
#include "kernel/virtio_blk.h"
#include "testsvc/abi.h"

namespace testsvc::kernel::disk {
namespace {

constinit sched::Thread* g_thread = nullptr;
constinit volatile bool g_enabled = false;
constinit volatile bool g_verify_requested = false;
constinit volatile uint64_t g_burst_requested = 0;
constinit uint64_t g_records = 0;
constinit uint64_t g_errors = 0;
alignas(512) constinit uint8_t g_sector[kDiskRecordBytes] = {};

void Reply(console::Line& line) {
  console::WriteLine(line);
}

void Verify() {
  console::Line line;
  line.Append(abi::kReplyPrefix);
  for (uint64_t n = 0; n < g_records; ++n) {
    if (const uint8_t status = virtio_blk::Read(n, g_sector, kDiskRecordBytes); status != 0) {
      line.Append("disk verify FAILED at record ").AppendDecimal(n);
      line.Append(": read status ").AppendDecimal(status);
      Reply(line);
      return;
    }
    if (const RecordCheck check = CheckRecord(g_sector, n); check != RecordCheck::kOk) {
      line.Append("disk verify FAILED at record ").AppendDecimal(n).Append(": ");
      line.Append(RecordCheckName(check));
      Reply(line);
      return;
    }
  }
  line.Append("disk verify ok records=").AppendDecimal(g_records);
  Reply(line);
}

// False when the workload's half of the disk is full (the other half is the service's log,
// log_record.h).
bool WriteNext() {
  if (g_records >= LogRegionStart(virtio_blk::Sectors())) return false;
  MakeRecord(g_records, pit::Ticks(), g_sector);
  if (virtio_blk::Write(g_records, g_sector, kDiskRecordBytes) == 0 && virtio_blk::Flush() == 0) {
    ++g_records;
  } else {
    ++g_errors;
  }
  return true;
}

void Burst(uint64_t count) {
  const uint64_t records_before = g_records;
  const uint64_t errors_before = g_errors;
  const uint64_t started = pit::Ticks();
  for (uint64_t i = 0; i < count && WriteNext(); ++i) {
  }
  console::Line line;
  line.Append(abi::kReplyPrefix);
  line.Append("disk burst records=").AppendDecimal(g_records - records_before);
  line.Append(" ticks=").AppendDecimal(pit::Ticks() - started);
  line.Append(" errors=").AppendDecimal(g_errors - errors_before);
  Reply(line);
}

void Main() {
  for (;;) {
    if (g_verify_requested) {
      g_verify_requested = false;
      Verify();
    } else if (const uint64_t burst = g_burst_requested; burst != 0) {
      g_burst_requested = 0;
      Burst(burst);
    } else if (g_enabled) {
      WriteNext();
      sched::SleepUntil(pit::Ticks() + 1);
    } else {
      IrqGuard guard;
      while (!g_enabled && !g_verify_requested && g_burst_requested == 0) sched::Block();
    }
  }
}

void WakeThread() {
  IrqGuard guard;
  if (g_thread != nullptr && g_thread->state == sched::ThreadState::kBlocked) {
    sched::Wake(g_thread);
  }
}

}  // namespace

void Start() {
  if (!virtio_blk::Init()) return;
  g_thread = sched::Spawn("disk", &Main);
}

bool Present() {
  return virtio_blk::Present();
}

bool Enabled() {
  return g_enabled;
}

void SetEnabled(bool enabled) {
  g_enabled = enabled;
  WakeThread();
}

void RequestVerify() {
  g_verify_requested = true;
  WakeThread();
}

void RequestBurst(uint64_t count) {
  g_burst_requested = count;
  WakeThread();
}

uint64_t Records() {
  return g_records;
}

uint64_t Errors() {
  return g_errors;
}

uint64_t Sectors() {
  return virtio_blk::Sectors();
}

}  // namespace testsvc::kernel::disk
