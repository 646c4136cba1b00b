// libFuzzer entry point: the logging channel's frame decoder. Built with -DFTVM_FUZZ=ON
// (clang).
#include <cstddef>
#include <cstdint>

#include "fuzz_bodies.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return ftvm::channel::fuzz_frame(data, size);
}
