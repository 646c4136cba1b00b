// libFuzzer target for the virtqueue walker: descriptor tables and rings as a hostile guest
// driver writes them (virtqueue_fuzz.h).
#include "virtqueue_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return ftvm::fuzz_virtqueue(data, size);
}
