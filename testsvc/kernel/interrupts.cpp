// isr_dispatch: where every vector lands after isr_common has saved the registers.
//
// Interrupts are disabled throughout (interrupt gates), so handlers never nest and may touch
// any kernel state. An IRQ handler first lets its device do its work, then journals the
// compute thread's progress if the IRQ landed on it, sends EOI, and finally lets the scheduler
// pick the thread to resume (EOI comes before any switch: the next thread may run for long).
//
// An interrupt may arrive at CPL0 (a kernel thread, idle) or at CPL3 (the compute thread);
// the CPU then switched to TSS.RSP0 first. Either way the frame has the same layout (in
// 64-bit mode the CPU always pushes SS:RSP) and IRETQ returns to the CPL of the frame it pops,
// so nothing here depends on where the interrupt came from.

#include "kernel/compute.h"
#include "kernel/config.h"
#include "kernel/journal.h"
#include "kernel/panic.h"
#include "kernel/pic.h"
#include "kernel/pit.h"
#include "kernel/sched.h"
#include "kernel/status.h"
#include "kernel/trap_frame.h"
#include "kernel/uart.h"
#include "kernel/virtio_blk.h"
#include "kernel/virtio_net.h"
#include "testsvc/abi.h"

namespace testsvc::kernel {
namespace {

constexpr uint64_t kExceptionVectors = 32;
constexpr uint64_t kPicVectors = 16;

constinit uint64_t g_stray_irqs = 0;

static_assert(abi::kPicSlaveVectorBase == abi::kPicMasterVectorBase + 8);
static_assert(kYieldVector >= kExceptionVectors &&
              (kYieldVector < abi::kPicMasterVectorBase ||
               kYieldVector >= abi::kPicMasterVectorBase + kPicVectors));

TrapFrame* HandleIrq(TrapFrame* frame, uint8_t irq) {
  if (pic::HandleSpurious(irq)) return frame;

  const bool compute_interrupted = compute::IsCurrent();
  switch (irq) {
    case abi::kIrqPit:
      pit::OnInterrupt();
      sched::OnTick(pit::Ticks());
      compute::OnTick(pit::Ticks());
      break;
    case abi::kIrqCom1:
      uart::OnInterrupt();
      break;
    case abi::kIrqVirtioBlk:
      virtio_blk::OnInterrupt();
      break;
    case abi::kIrqVirtioNet:
      virtio_net::OnInterrupt();
      break;
    default:  // masked lines: should not happen
      ++g_stray_irqs;
      break;
  }
  if (compute_interrupted) journal::RecordInterrupt(pit::Ticks(), compute::Progress(), irq);
  // After the journal entry, so a status line includes the tick it reports.
  if (irq == abi::kIrqPit) status::OnTick(pit::Ticks());

  pic::SendEoi(irq);
  return sched::OnInterruptExit(frame);
}

TrapFrame* Dispatch(TrapFrame* frame) {
  if (frame->vector < kExceptionVectors) ReportException(*frame);
  if (frame->vector == kYieldVector) return sched::OnYield(frame);
  const uint64_t irq = frame->vector - abi::kPicMasterVectorBase;
  if (frame->vector >= abi::kPicMasterVectorBase && irq < kPicVectors) {
    return HandleIrq(frame, static_cast<uint8_t>(irq));
  }
  Panic("interrupts: unexpected vector");
}

}  // namespace
}  // namespace testsvc::kernel

// Called by isr_common (isr.S) with the saved frame; returns the frame to resume.
extern "C" testsvc::kernel::TrapFrame* isr_dispatch(testsvc::kernel::TrapFrame* frame) {
  return testsvc::kernel::Dispatch(frame);
}
