// Stopping the VM with a verdict.
#pragma once

#include <stdint.h>

namespace testsvc::kernel {

// Writes `status` to abi::kShutdownPort (0 = success; see config.h for the others) and halts
// with interrupts disabled in case the VMM lets the guest go on.
[[noreturn]] void Shutdown(uint32_t status);

}  // namespace testsvc::kernel
