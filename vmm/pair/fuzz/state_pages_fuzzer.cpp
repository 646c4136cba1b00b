// libFuzzer entry point: a state-transfer message's pages, decoded and unpacked into a guest.
// Built with -DFTVM_FUZZ=ON (clang).
#include <cstddef>
#include <cstdint>

#include "fuzz_state_pages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return ftvm::fuzz_state_pages(data, size);
}
