#include "disk/line_framer.h"

#include <fmt/format.h>

#include "disk/protocol.h"

namespace ftvm::disk {

Result<std::optional<std::string>> LineFramer::next_line() {
  const size_t newline = buffer_.find('\n');
  // Without a newline yet, the line will need one more byte than it holds.
  const size_t line_bytes = newline == std::string::npos ? buffer_.size() + 1 : newline + 1;
  if (line_bytes > kMaxLineBytes) {
    return make_error(
        fmt::format("line too long: the limit is {} bytes including the newline", kMaxLineBytes));
  }
  if (newline == std::string::npos) return std::optional<std::string>();
  std::string line = buffer_.substr(0, newline);
  buffer_.erase(0, newline + 1);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return std::optional<std::string>(std::move(line));
}

}  // namespace ftvm::disk
