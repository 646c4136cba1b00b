// The host probe's cache file (/run/ftvm/host-probe-*.json) is read back at every start: any
// bytes there must decode or be refused, never crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "vmm/host_probe_cache.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ftvm::ProbeCacheKey key{"3c5b1f0e-0000-4000-8000-000000000000", "/dev/kvm", 0xa3e8,
                                "kvm,kvm_intel", 0x1234};
  auto facts =
      ftvm::decode_probe_cache(std::string_view(reinterpret_cast<const char*>(data), size), key);
  if (facts) {
    // What decodes must encode back to something that decodes to the same.
    auto again = ftvm::decode_probe_cache(ftvm::encode_probe_cache(key, *facts), key);
    if (!again || again->notes != facts->notes ||
        again->breakpoint_cpl0 != facts->breakpoint_cpl0) {
      __builtin_trap();
    }
  }
  return 0;
}
