#include "logging_channel/receive_message.h"

#include <fmt/format.h>

#include "logging_channel/tcp.h"

namespace ftvm::channel {

Result<Message> receive_message(int fd, FrameDecoder& decoder, std::span<uint8_t> buffer,
                                std::chrono::milliseconds timeout, std::string_view peer,
                                std::string_view waiting_for, uint64_t& bytes_read) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    auto message = decoder.next();
    if (!message) {
      return make_error(
          fmt::format("rejected a message from the {}: {}", peer, message.error().message));
    }
    if (*message) return std::move(**message);
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return make_error(fmt::format("waited in vain for {} from the {}", waiting_for, peer));
    }
    auto got = receive_some(fd, buffer, left);
    if (!got) {
      return make_error(fmt::format("the channel to the {} failed: {}", peer, got.error().message));
    }
    if (!*got) continue;
    if (**got == 0) {
      return make_error(
          fmt::format("the {} closed the channel while this side waited for {} "
                      "(see its messages)",
                      peer, waiting_for));
    }
    bytes_read += **got;
    decoder.feed(buffer.first(**got));
  }
}

}  // namespace ftvm::channel
