#include "logging_channel/frame_key.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "vmm/unique_fd.h"

namespace ftvm::channel {
namespace {

Result<void> check_key_size(size_t bytes, const std::string& where) {
  if (bytes < kMinKeyBytes) {
    return make_error(fmt::format(
        "{} holds {} bytes, too short for a key (at least {}): fill it with random bytes, e.g. "
        "`head -c 32 /dev/urandom > FILE`, and give both hosts the same file",
        where, bytes, kMinKeyBytes));
  }
  if (bytes > kMaxKeyBytes) {
    return make_error(
        fmt::format("{} holds {} bytes, more than a key file may ({}): is it the "
                    "right file?",
                    where, bytes, kMaxKeyBytes));
  }
  return {};
}

Result<std::vector<uint8_t>> read_bounded(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return make_error(fmt::format("cannot open key file {}: {}", path, std::strerror(errno)));
  }
  // One byte over the maximum, so an oversize file is told from one of exactly the maximum.
  std::vector<uint8_t> bytes(kMaxKeyBytes + 1);
  size_t filled = 0;
  while (filled < bytes.size()) {
    const ssize_t n = ::read(fd.get(), bytes.data() + filled, bytes.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return make_error(fmt::format("cannot read key file {}: {}", path, std::strerror(errno)));
    }
    if (n == 0) break;
    filled += static_cast<size_t>(n);
  }
  bytes.resize(filled);
  return bytes;
}

}  // namespace

FrameKey FrameKey::none() {
  return FrameKey();
}

Result<FrameKey> FrameKey::from_file(const std::string& path) {
  auto bytes = read_bounded(path);
  if (!bytes) return bytes.error();
  if (auto ok = check_key_size(bytes->size(), "key file " + path); !ok) {
    OPENSSL_cleanse(bytes->data(), bytes->size());
    return ok.error();
  }
  FrameKey key;
  key.bytes_ = std::move(*bytes);
  return key;
}

Result<FrameKey> FrameKey::from_file_or_none(const std::string& path) {
  if (path.empty()) return none();
  return from_file(path);
}

Result<FrameKey> FrameKey::from_bytes(std::span<const uint8_t> bytes) {
  if (auto ok = check_key_size(bytes.size(), "the key"); !ok) return ok.error();
  FrameKey key;
  key.bytes_.assign(bytes.begin(), bytes.end());
  return key;
}

FrameKey& FrameKey::operator=(const FrameKey& other) {
  if (this != &other) {
    wipe();
    bytes_ = other.bytes_;
  }
  return *this;
}

FrameKey& FrameKey::operator=(FrameKey&& other) noexcept {
  if (this != &other) {
    wipe();
    bytes_ = std::move(other.bytes_);
    other.bytes_.clear();
  }
  return *this;
}

FrameKey::~FrameKey() {
  wipe();
}

void FrameKey::wipe() {
  if (!bytes_.empty()) OPENSSL_cleanse(bytes_.data(), bytes_.size());
  bytes_.clear();
}

}  // namespace ftvm::channel
