// libFuzzer target for virtio-net: a hostile driver's rings and the host's frames
// (virtio_net_fuzz.h).
#include "virtio_net_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return ftvm::fuzz_virtio_net(data, size);
}
