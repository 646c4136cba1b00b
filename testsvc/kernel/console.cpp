#include "kernel/console.h"

#include "kernel/cpu.h"
#include "kernel/panic.h"
#include "kernel/uart.h"

namespace testsvc::kernel::console {
namespace {

// True while a line is being written. With interrupts disabled during a write, only a crash
// (an exception inside the write) can observe it set.
constinit bool g_writing = false;

void WriteBytes(const char* text, size_t size) {
  for (size_t i = 0; i < size; ++i) uart::PutByte(static_cast<uint8_t>(text[i]));
}

}  // namespace

void WriteLine(const char* text, size_t size) {
  IrqGuard guard;
  if (g_writing) Panic("console: nested WriteLine");
  g_writing = true;
  WriteBytes(text, size);
  uart::PutByte('\n');
  g_writing = false;
}

void WriteLine(const char* text) {
  WriteLine(text, StringLength(text));
}

void EmergencyWriteLine(const char* text, size_t size) {
  IrqGuard guard;
  if (g_writing) uart::PutByte('\n');
  g_writing = true;
  WriteBytes(text, size);
  uart::PutByte('\n');
  g_writing = false;
}

}  // namespace testsvc::kernel::console
