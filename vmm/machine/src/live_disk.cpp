#include "machine/live_disk.h"

#include <filesystem>

#include "machine/libvirt_lease.h"
#include "vmm/file_block_backend.h"
#include "vmm/nbd_block_backend.h"

namespace ftvm {

std::string disk_serial(const std::string& source) {
  std::string name = std::filesystem::path(source).filename().string();
  if (name.empty()) name = source;
  return ("ftvm:" + name).substr(0, VirtioBlk::kIdBytes);
}

Result<std::string> local_disk_path(const std::string& source) {
  if (!source.starts_with("libvirt:")) return source;
  std::string volume = source.substr(8);
  std::string uri = "qemu:///system";
  if (const size_t query = volume.find("?uri="); query != std::string::npos) {
    uri = volume.substr(query + 5);
    volume.resize(query);
  }
  return libvirt_volume_path_via_helper(volume, uri);
}

namespace {

// nbd://HOST:PORT/EXPORT[?QUERY] -> nbd://HOST:PORT/EXPORT@TOKEN[?QUERY]
std::string with_writer_token(const std::string& uri, const std::string& token) {
  if (token.empty()) return uri;
  const size_t query = uri.find('?');
  std::string out = uri.substr(0, query);
  out += '@' + token;
  if (query != std::string::npos) out += uri.substr(query);
  return out;
}

}  // namespace

Result<std::optional<LiveDisk>> open_live_disk(const DiskOptions& options, EventQueue& events) {
  if (options.source.empty()) return std::optional<LiveDisk>();
  LiveDisk disk;
  disk.device.serial = disk_serial(options.source);
  disk.device.read_only = options.read_only;
  if (options.source.starts_with("nbd://") || options.source.starts_with("nbd+unix://")) {
    auto nbd =
        NbdBlockBackend::connect(with_writer_token(options.source, options.writer_token), events);
    if (!nbd) return make_error("--disk: " + nbd.error().message);
    disk.device.capacity_bytes = (*nbd)->size_bytes();
    disk.device.read_only = disk.device.read_only || (*nbd)->read_only();
    disk.backend = std::move(*nbd);
  } else {
    auto path = local_disk_path(options.source);
    if (!path) return make_error("--disk: " + path.error().message);
    auto file = FileBlockBackend::open(*path, options.read_only, events);
    if (!file) return make_error("--disk: " + file.error().message);
    disk.device.capacity_bytes = (*file)->size_bytes();
    disk.backend = std::move(*file);
  }
  return std::optional<LiveDisk>(std::move(disk));
}

}  // namespace ftvm
