#include "kernel/shutdown.h"

#include "kernel/cpu.h"
#include "kernel/port_io.h"
#include "testsvc/abi.h"

namespace testsvc::kernel {

void Shutdown(uint32_t status) {
  DisableInterrupts();
  Outl(abi::kShutdownPort, status);
  HaltForever();
}

}  // namespace testsvc::kernel
