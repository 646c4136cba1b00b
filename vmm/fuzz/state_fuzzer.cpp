// libFuzzer target for the machine-state decoder (checkpoints, later state transfer): bytes
// from a trace file or a peer must give a clear error, never a crash.
#include <cstddef>
#include <cstdint>

#include "vmm/vcpu_state.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)ftvm::decode_state({data, size});
  return 0;
}
