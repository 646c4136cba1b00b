// Crash reports. Every line starts with "panic:"; the VM is then stopped with a nonzero
// status (config.h), so neither a human nor a test has to guess what happened.
#pragma once

#include <stdint.h>

#include "kernel/trap_frame.h"

namespace testsvc::kernel {

// A broken kernel invariant: prints `message`, the current thread and a backtrace, then
// shuts down with kExitPanic.
[[noreturn]] void Panic(const char* message);

// A CPU exception (vector 0..31), from CPL0 or CPL3: prints its name, vector, error code, RIP,
// CS and the CPL it came from, RFLAGS, RSP (`user_rsp` from CPL3), CR2 for #PF, all registers
// and a backtrace, then shuts down with kExitExceptionBase + vector.
[[noreturn]] void ReportException(const TrapFrame& frame);

}  // namespace testsvc::kernel
