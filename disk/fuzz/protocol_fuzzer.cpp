// libFuzzer entry point: the arbiter's request and reply parsers, line framer and state file
// decoder. Built with -DFTVM_FUZZ=ON (clang).
#include <cstddef>
#include <cstdint>

#include "fuzz_bodies.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return ftvm::disk::fuzz_protocol(data, size);
}
