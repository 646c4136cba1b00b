#include "vmm/file_console.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace ftvm {

namespace {
constexpr size_t kFlushThreshold = 4096;
}

void FileConsole::write(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return;
  if (!first_output_) first_output_ = std::chrono::steady_clock::now();
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
  bytes_written_ += bytes.size();
  const bool end_of_line = std::find(bytes.begin(), bytes.end(), '\n') != bytes.end();
  if (end_of_line || buffer_.size() >= kFlushThreshold) flush();
}

void FileConsole::flush() {
  size_t done = 0;
  while (done < buffer_.size()) {
    ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // a closed pipe: the reader is gone and the output with it
    done += static_cast<size_t>(n);
  }
  buffer_.clear();
}

}  // namespace ftvm
