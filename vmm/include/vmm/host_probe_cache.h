// The host probe's measurement, kept for the rest of the boot: a probe builds and runs a VM, and
// `ftvm record`, `ftvm primary` and `ftvm host-info` would each run it again. A host's KVM does
// not change its debug behaviour within a boot unless its module is reloaded, so the key is the
// boot (boot_id), the KVM device (its path and device number), the loaded KVM modules and the
// probe guest itself. The cache lives in /run/ftvm (cleared at every boot) or, for a user
// without write access there, $XDG_RUNTIME_DIR/ftvm; where neither can be written, every call
// probes. A file that does not decode, or decodes to another key, is probed over.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "vmm/host_probe.h"
#include "vmm/result.h"

namespace ftvm {

struct ProbeCacheKey {
  std::string boot_id;
  std::string kvm_device;
  uint64_t device_number = 0;
  std::string kvm_modules;  // comma-separated
  uint64_t probe_image_xxh3 = 0;
  bool operator==(const ProbeCacheKey&) const = default;
};

std::string encode_probe_cache(const ProbeCacheKey& key, const GuestDebugFacts& facts);
// The facts, if `bytes` is a cache entry for exactly `expected`.
std::optional<GuestDebugFacts> decode_probe_cache(std::string_view bytes,
                                                  const ProbeCacheKey& expected);

struct CachedFacts {
  GuestDebugFacts facts;
  bool from_cache = false;
  std::string path;  // where it was kept; empty where nothing could be written
};

// The facts for `key`: from `file` where it holds them (unless `reprobe`), else from `probe`,
// then written to `file` (atomically; a write that fails is not an error).
Result<CachedFacts> cached_facts(const ProbeCacheKey& key, const std::filesystem::path& file,
                                 bool reprobe,
                                 const std::function<Result<GuestDebugFacts>()>& probe);

// This host's key for `kvm_device`.
Result<ProbeCacheKey> probe_cache_key(const std::string& kvm_device);

// probe_guest_debug(kvm_device), kept per boot as above.
Result<CachedFacts> cached_guest_debug_facts(const std::string& kvm_device = "/dev/kvm",
                                             bool reprobe = false);

}  // namespace ftvm
