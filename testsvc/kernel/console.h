// Line-oriented console output on the UART.
//
// Every line is written whole: a writer holds the console (interrupts disabled, one CPU) from
// its first byte to its '\n', so lines of different threads never interleave. Lines end with a
// single '\n' (no '\r').
#pragma once

#include <stddef.h>

#include "kernel/config.h"
#include "kernel/format.h"

namespace testsvc::kernel::console {

using Line = LineBuilder<kMaxOutputLineBytes>;

void WriteLine(const char* text, size_t size);
inline void WriteLine(const Line& line) {
  WriteLine(line.data(), line.size());
}
void WriteLine(const char* text);

// For crash reports, from any context: like WriteLine, but if the crash interrupted a line
// half-way, ends that line first so the report starts on a line of its own.
void EmergencyWriteLine(const char* text, size_t size);

}  // namespace testsvc::kernel::console
