// Cuts a byte stream into the protocol's lines. Bytes arrive in arbitrary pieces; a line that
// grows past kMaxLineBytes is an error as soon as it does, without waiting for its newline,
// so a peer cannot make the server buffer without bound.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "vmm/result.h"

namespace ftvm::disk {

class LineFramer {
 public:
  void feed(std::string_view bytes) { buffer_.append(bytes); }

  // The next complete line without its '\n' (and without a '\r' before it, for telnet-style
  // clients), nullopt while none is complete, or an error for an over-long line; after an
  // error the stream cannot be resynchronised and the connection should close.
  Result<std::optional<std::string>> next_line();

  // Bytes of an incomplete line still waiting for their newline.
  size_t pending_bytes() const { return buffer_.size(); }

 private:
  std::string buffer_;
};

}  // namespace ftvm::disk
