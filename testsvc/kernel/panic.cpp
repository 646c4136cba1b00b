#include "kernel/panic.h"

#include "kernel/config.h"
#include "kernel/console.h"
#include "kernel/cpu.h"
#include "kernel/sched.h"
#include "kernel/shutdown.h"

namespace testsvc::kernel {
namespace {

constexpr uint64_t kPageFaultVector = 14;
constexpr int kMaxBacktraceFrames = 12;

struct ExceptionName {
  const char* mnemonic;
  const char* description;
};

constexpr ExceptionName kExceptionNames[32] = {
    {"#DE", "divide error"},
    {"#DB", "debug"},
    {"NMI", "non-maskable interrupt"},
    {"#BP", "breakpoint"},
    {"#OF", "overflow"},
    {"#BR", "bound range exceeded"},
    {"#UD", "invalid opcode"},
    {"#NM", "device not available"},
    {"#DF", "double fault"},
    {"#9", "coprocessor segment overrun"},
    {"#TS", "invalid TSS"},
    {"#NP", "segment not present"},
    {"#SS", "stack-segment fault"},
    {"#GP", "general protection"},
    {"#PF", "page fault"},
    {"#15", "reserved"},
    {"#MF", "x87 floating-point error"},
    {"#AC", "alignment check"},
    {"#MC", "machine check"},
    {"#XM", "SIMD floating-point error"},
    {"#VE", "virtualization exception"},
    {"#CP", "control protection"},
    {"#22", "reserved"},
    {"#23", "reserved"},
    {"#24", "reserved"},
    {"#25", "reserved"},
    {"#26", "reserved"},
    {"#27", "reserved"},
    {"#HV", "hypervisor injection"},
    {"#VC", "VMM communication"},
    {"#SX", "security exception"},
    {"#31", "reserved"},
};

using Line = console::Line;

void Emit(const Line& line) {
  console::EmergencyWriteLine(line.data(), line.size());
}

// Every part appended after this starts with its own space.
Line StartLine() {
  Line line;
  line.Append("panic:");
  return line;
}

void AppendThread(Line& line) {
  const sched::Thread* current = sched::Current();
  line.Append(" thread=").Append(current != nullptr ? current->name : "boot");
}

void AppendRegister(Line& line, const char* name, uint64_t value) {
  line.AppendChar(' ').Append(name).Append("=0x").AppendHex(value, 16);
}

// Follows the frame-pointer chain (the kernel is built with -fno-omit-frame-pointer) while it
// stays inside the stack `rbp` started in, so a corrupt chain cannot fault again.
void EmitBacktrace(uint64_t rip, uint64_t rbp) {
  Line line = StartLine();
  line.Append(" backtrace 0x").AppendHex(rip);
  const sched::StackBounds bounds = sched::StackContaining(rbp);
  for (int i = 0; i < kMaxBacktraceFrames && bounds.bottom != 0; ++i) {
    if (rbp % 8 != 0 || rbp < bounds.bottom || rbp + 16 > bounds.top) break;
    const auto* frame = reinterpret_cast<const uint64_t*>(rbp);
    const uint64_t return_address = frame[1];
    if (return_address == 0) break;
    line.Append(" 0x").AppendHex(return_address);
    if (frame[0] <= rbp) break;  // stacks grow down: callers' frames are higher
    rbp = frame[0];
  }
  Emit(line);
}

uint64_t CurrentFramePointer() {
  return reinterpret_cast<uint64_t>(__builtin_frame_address(0));
}

}  // namespace

void Panic(const char* message) {
  DisableInterrupts();
  Line line = StartLine();
  line.AppendChar(' ').Append(message);
  AppendThread(line);
  Emit(line);
  EmitBacktrace(reinterpret_cast<uint64_t>(__builtin_return_address(0)), CurrentFramePointer());
  Shutdown(kExitPanic);
}

void ReportException(const TrapFrame& frame) {
  DisableInterrupts();
  const uint64_t vector = frame.vector & 31;
  const ExceptionName& name = kExceptionNames[vector];

  Line line = StartLine();
  line.Append(" exception ").Append(name.mnemonic).Append(" (").Append(name.description);
  line.Append(") vector=").AppendDecimal(frame.vector);
  line.Append(" error=0x").AppendHex(frame.error_code);
  line.Append(" rip=0x").AppendHex(frame.rip);
  // The CPL the exception came from is the RPL of the saved CS: 3 for the compute thread,
  // whose RSP in the frame is then its user stack pointer (the CPU had switched to RSP0).
  const uint64_t cpl = frame.cs & 3;
  line.Append(" cs=0x").AppendHex(frame.cs).Append(" cpl=").AppendDecimal(cpl);
  line.Append(" rflags=0x").AppendHex(frame.rflags);
  line.Append(cpl == 0 ? " rsp=0x" : " user_rsp=0x").AppendHex(frame.rsp);
  if (frame.vector == kPageFaultVector) line.Append(" cr2=0x").AppendHex(ReadCr2());
  AppendThread(line);
  Emit(line);

  line = StartLine();
  AppendRegister(line, "rax", frame.rax);
  AppendRegister(line, "rbx", frame.rbx);
  AppendRegister(line, "rcx", frame.rcx);
  AppendRegister(line, "rdx", frame.rdx);
  AppendRegister(line, "rsi", frame.rsi);
  AppendRegister(line, "rdi", frame.rdi);
  AppendRegister(line, "rbp", frame.rbp);
  AppendRegister(line, "ss", frame.ss);
  Emit(line);
  line = StartLine();
  AppendRegister(line, "r8", frame.r8);
  AppendRegister(line, "r9", frame.r9);
  AppendRegister(line, "r10", frame.r10);
  AppendRegister(line, "r11", frame.r11);
  AppendRegister(line, "r12", frame.r12);
  AppendRegister(line, "r13", frame.r13);
  AppendRegister(line, "r14", frame.r14);
  AppendRegister(line, "r15", frame.r15);
  Emit(line);

  EmitBacktrace(frame.rip, frame.rbp);
  Shutdown(kExitExceptionBase + static_cast<uint32_t>(vector));
}

}  // namespace testsvc::kernel
