// kmain: brings the machine up, starts the threads, then becomes the idle thread.

#include "kernel/compute.h"
#include "kernel/config.h"
#include "kernel/console.h"
#include "kernel/cpu.h"
#include "kernel/disk.h"
#include "kernel/gdt.h"
#include "kernel/idt.h"
#include "kernel/net.h"
#include "kernel/paging.h"
#include "kernel/pic.h"
#include "kernel/pit.h"
#include "kernel/rtc.h"
#include "kernel/sched.h"
#include "kernel/service.h"
#include "kernel/shutdown.h"
#include "kernel/status.h"
#include "kernel/uart.h"
#include "testsvc/abi.h"

extern "C" uint8_t __kernel_end[];  // linker.ld

namespace testsvc::kernel {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

[[noreturn]] void BootFailure(const char* reason, uint64_t value) {
  console::Line line;
  line.Append("testsvc: bad boot info: ").Append(reason).Append(" (0x").AppendHex(value);
  line.Append(")");
  console::WriteLine(line);
  Shutdown(kExitBadBootInfo);
}

// The BootInfo contract (abi.h). The checks only read it: it lives in memory we do not own.
void CheckBootInfo(const abi::BootInfo* info) {
  const auto address = reinterpret_cast<uint64_t>(info);
  if (address == 0 || address + sizeof(abi::BootInfo) > abi::kGuestImageMinGpa) {
    BootFailure("BootInfo pointer (RDI) outside low memory", address);
  }
  if (info->magic != abi::kBootInfoMagic) BootFailure("magic", info->magic);
  if (info->abi_version != abi::kAbiVersion) BootFailure("abi_version", info->abi_version);
  const auto image_end = reinterpret_cast<uint64_t>(__kernel_end);
  if (info->mem_bytes < image_end) BootFailure("mem_bytes smaller than the image", info->mem_bytes);
  if (info->mem_bytes > abi::kMaxRamBytes)
    BootFailure("mem_bytes over kMaxRamBytes", info->mem_bytes);
}

void PrintBanner(uint64_t mem_bytes) {
  DateTime now;
  const bool rtc_ok = rtc::Read(&now);
  console::Line line;
  line.Append(abi::kBannerPrefix);
  line.Append(" mem=").AppendDecimal(mem_bytes / kMiB).Append("MiB");
  line.Append(" rtc=").AppendDecimalPadded(now.year, 4);
  line.AppendChar('-').AppendDecimalPadded(now.month, 2);
  line.AppendChar('-').AppendDecimalPadded(now.day, 2);
  line.AppendChar(' ').AppendDecimalPadded(now.hour, 2);
  line.AppendChar(':').AppendDecimalPadded(now.minute, 2);
  line.AppendChar(':').AppendDecimalPadded(now.second, 2);
  if (!rtc_ok) line.Append("(unsettled)");
  line.Append(" abi=").AppendDecimal(abi::kAbiVersion);
  console::WriteLine(line);
}

[[noreturn]] void IdleLoop() {
  for (;;) {
    // STI's one-instruction interrupt shadow makes the pair atomic: an IRQ that became pending
    // before STI is taken at HLT (ending it), never between the two, so no wakeup is lost.
    asm volatile("sti\n\thlt" : : : "memory");
  }
}

[[noreturn]] void Main(const abi::BootInfo* boot_info) {
  DisableInterrupts();
  uart::Init();  // first, so that every failure below can be reported
  CheckBootInfo(boot_info);
  const uint64_t mem_bytes = boot_info->mem_bytes;

  // Our own page tables, GDT and IDT: after these, nothing the VMM set up for boot is used.
  paging::Init();
  gdt::Init();
  idt::Init();
  pic::Init();
  uart::EnableInterrupts();  // only after the PIC (uart.h says why)
  PrintBanner(mem_bytes);

  sched::Init();
  compute::Start();
  disk::Start();
  net::Start();
  service::Start();
  status::Start();
  pit::Init();
  IdleLoop();  // enables interrupts: the first tick starts the threads
}

}  // namespace
}  // namespace testsvc::kernel

// Called by _start (entry.S) on the boot stack, with RDI as the VMM passed it.
extern "C" [[noreturn]] void kmain(const testsvc::abi::BootInfo* boot_info) {
  testsvc::kernel::Main(boot_info);
}
