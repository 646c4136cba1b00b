#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include "logging_channel/tcp.h"
#include "socket_util.h"

namespace ftvm::channel {
namespace {

using Clock = std::chrono::steady_clock;

Error connection_error(const char* doing, int error) {
  if (error == EPIPE || error == ECONNRESET) {
    return make_error(fmt::format("{} failed: the peer closed or reset the connection", doing));
  }
  return make_error(fmt::format("{} failed: {}", doing, errno_text(error)));
}

}  // namespace

Result<void> send_all(int fd, std::span<const uint8_t> bytes, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!bytes.empty()) {
    // MSG_DONTWAIT: the deadline is kept by poll, whatever the socket's blocking mode.
    const ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent > 0) {
      bytes = bytes.subspan(static_cast<size_t>(sent));
      deadline = Clock::now() + timeout;  // the peer is reading
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      return connection_error("sending to the peer", errno);
    }
    auto ready = poll_one(fd, POLLOUT, ms_until(deadline));
    if (!ready) return ready.error();
    if (*ready == 0) {
      return make_error(fmt::format(
          "sending to the peer timed out: it took nothing for {} ms, with {} bytes unsent: the "
          "peer stopped reading",
          timeout.count(), bytes.size()));
    }
  }
  return {};
}

Result<std::optional<size_t>> receive_some(int fd, std::span<uint8_t> into,
                                           std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    const ssize_t got = ::recv(fd, into.data(), into.size(), MSG_DONTWAIT);
    if (got >= 0) return std::optional<size_t>(static_cast<size_t>(got));
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return connection_error("receiving from the peer", errno);
    }
    auto ready = poll_one(fd, POLLIN, ms_until(deadline));
    if (!ready) return ready.error();
    if (*ready == 0) return std::optional<size_t>();
  }
}

}  // namespace ftvm::channel
