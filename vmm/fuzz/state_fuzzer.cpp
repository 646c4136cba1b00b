// libFuzzer target for the machine-state decoder (checkpoints, later state transfer): bytes
// from a trace file or a peer must give a clear error, never a crash.
#include <cstddef>
#include <cstdint>

#include "vmm/vcpu_state.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)ftvm::decode_state({data, size});
  // The same bytes as the serialized state behind a valid header and checksum: mutations that
  // the checksum would stop reach the parser (XSAVE size, MSR count, page list) this way.
  (void)ftvm::decode_state(ftvm::seal_state_payload({data, size}));
  return 0;
}
