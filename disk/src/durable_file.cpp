#include "durable_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "vmm/unique_fd.h"

namespace ftvm::disk {
namespace {

Error os_error(std::string_view what, const std::filesystem::path& path) {
  return make_error(fmt::format("{} {}: {}", what, path.string(), std::strerror(errno)));
}

Result<void> write_all(int fd, std::string_view bytes, const std::filesystem::path& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return os_error("cannot write", path);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

Result<void> fsync_path(const std::filesystem::path& path, int flags) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (!fd.valid()) return os_error("cannot open", path);
  if (::fsync(fd.get()) != 0) return os_error("cannot fsync", path);
  return {};
}

}  // namespace

Result<void> fsync_directory(const std::filesystem::path& dir) {
  return fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

Result<void> replace_file_durably(const std::filesystem::path& dir, const std::string& name,
                                  std::string_view contents) {
  const auto temporary = dir / (name + ".tmp");
  {
    UniqueFd fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid()) return os_error("cannot create", temporary);
    if (auto r = write_all(fd.get(), contents, temporary); !r) return r;
    if (::fsync(fd.get()) != 0) return os_error("cannot fsync", temporary);
  }
  const auto target = dir / name;
  if (::rename(temporary.c_str(), target.c_str()) != 0) {
    return os_error(fmt::format("cannot rename {} over", temporary.string()), target);
  }
  return fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

Result<std::string> read_whole_file(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return os_error("cannot open", path);
  std::string contents;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return os_error("cannot read", path);
    if (n == 0) return contents;
    contents.append(buffer, static_cast<size_t>(n));
  }
}

}  // namespace ftvm::disk
