#include "vmm/host_probe_cache.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstring>
#include <fstream>

#include "vmm/host_info.h"
#include "vmm/text_file.h"

extern "C" const uint8_t ftvm_host_probe_image_start[];
extern "C" const uint8_t ftvm_host_probe_image_end[];

namespace ftvm {
namespace {

// Where the cache goes: /run/ftvm for root, else $XDG_RUNTIME_DIR/ftvm; empty if neither.
std::filesystem::path cache_directory() {
  if (::geteuid() == 0) return "/run/ftvm";
  if (const char* runtime = std::getenv("XDG_RUNTIME_DIR"); runtime && *runtime) {
    return std::filesystem::path(runtime) / "ftvm";
  }
  return {};
}

void write_atomically(const std::filesystem::path& file, const std::string& text) {
  std::error_code error;
  std::filesystem::create_directories(file.parent_path(), error);
  if (error) return;
  const auto temporary = file.string() + fmt::format(".{}.tmp", ::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) return;
  }
  std::filesystem::rename(temporary, file, error);
  if (error) std::filesystem::remove(temporary, error);
}

}  // namespace

Result<CachedFacts> cached_facts(const ProbeCacheKey& key, const std::filesystem::path& file,
                                 bool reprobe,
                                 const std::function<Result<GuestDebugFacts>()>& probe) {
  if (!reprobe && !file.empty()) {
    if (auto facts = decode_probe_cache(read_text_file(file), key)) {
      return CachedFacts{*facts, true, file.string()};
    }
  }
  auto measured = probe();
  if (!measured) return measured.error();
  if (file.empty()) return CachedFacts{*measured, false, ""};
  write_atomically(file, encode_probe_cache(key, *measured));
  return CachedFacts{*measured, false, file.string()};
}

Result<ProbeCacheKey> probe_cache_key(const std::string& kvm_device) {
  ProbeCacheKey key;
  key.boot_id = read_text_file("/proc/sys/kernel/random/boot_id");
  while (!key.boot_id.empty() && key.boot_id.back() == '\n') key.boot_id.pop_back();
  if (key.boot_id.empty()) return make_error("cannot read /proc/sys/kernel/random/boot_id");
  key.kvm_device = kvm_device;
  struct stat device {};
  if (::stat(kvm_device.c_str(), &device) != 0) {
    return make_error(fmt::format("{}: {}", kvm_device, std::strerror(errno)));
  }
  key.device_number = device.st_rdev;
  for (const auto& module : loaded_kvm_modules("/sys/module")) {
    key.kvm_modules += (key.kvm_modules.empty() ? "" : ",") + module;
  }
  key.probe_image_xxh3 = XXH3_64bits(ftvm_host_probe_image_start,
                                     ftvm_host_probe_image_end - ftvm_host_probe_image_start);
  return key;
}

Result<CachedFacts> cached_guest_debug_facts(const std::string& kvm_device, bool reprobe) {
  auto key = probe_cache_key(kvm_device);
  if (!key) return key.error();
  const auto directory = cache_directory();
  const std::filesystem::path file =
      directory.empty() ? std::filesystem::path()
                        : directory / fmt::format("host-probe-{:x}.json", key->device_number);
  return cached_facts(*key, file, reprobe, [&] { return probe_guest_debug(kvm_device); });
}

}  // namespace ftvm
