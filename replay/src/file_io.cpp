#include "file_io.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "vmm/unique_fd.h"

namespace ftvm::replay {
namespace {

Error errno_error(const char* action, const std::filesystem::path& path) {
  return make_error(fmt::format("cannot {} {}: {}", action, path.string(), std::strerror(errno)));
}

}  // namespace

Result<std::vector<uint8_t>> read_whole_file(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return errno_error("open", path);
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) return errno_error("stat", path);
  if (!S_ISREG(info.st_mode)) {
    return make_error(fmt::format("{} is not a regular file", path.string()));
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(info.st_size));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("read", path);
    if (n == 0) break;  // the file shrank under us: return what is there
    done += static_cast<size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

Result<void> write_all(int fd, std::span<const uint8_t> bytes, const std::filesystem::path& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("write", path);
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
  return {};
}

Result<void> replace_file(const std::filesystem::path& path, std::span<const uint8_t> bytes) {
  std::filesystem::path temporary = path;
  temporary += ".tmp";
  {
    UniqueFd fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd.valid()) return errno_error("create", temporary);
    if (auto r = write_all(fd.get(), bytes, temporary); !r) return r;
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) return errno_error("rename to", path);
  return {};
}

Result<void> sync_path(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return errno_error("open", path);
  if (::fsync(fd.get()) != 0) return errno_error("fsync", path);
  return {};
}

}  // namespace ftvm::replay
