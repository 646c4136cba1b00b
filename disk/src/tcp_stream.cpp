#include "tcp_stream.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "tcp_addresses.h"

namespace ftvm::disk {
namespace {

// Waits for `events` on `fd` until the deadline; false when it passed first.
Result<bool> wait_for(int fd, short events, Deadline deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd pfd{fd, events, 0};
    const int rc = ::poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left.count(), 60'000)));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return make_error(fmt::format("poll(): {}", std::strerror(errno)));
    if (rc > 0) return true;
  }
}

Result<UniqueFd> connect_one(const addrinfo& ai, Deadline deadline) {
  UniqueFd fd(::socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return make_error(fmt::format("socket(): {}", std::strerror(errno)));
  const int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd.get(), ai.ai_addr, ai.ai_addrlen) != 0 && errno != EINPROGRESS) {
    return make_error(std::strerror(errno));
  }
  auto ready = wait_for(fd.get(), POLLOUT, deadline);
  if (!ready) return ready.error();
  if (!*ready) return make_error("timed out connecting");
  int error = 0;
  socklen_t length = sizeof error;
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
  if (error != 0) return make_error(std::strerror(error));
  return fd;
}

}  // namespace

Result<UniqueFd> connect_tcp(const std::string& address, Deadline deadline) {
  auto resolved = resolve(address, 0);
  if (!resolved) return resolved.error();
  Error last = make_error("no address to connect to");
  for (const addrinfo* ai = resolved->get(); ai != nullptr; ai = ai->ai_next) {
    auto fd = connect_one(*ai, deadline);
    if (fd) return fd;
    last = fd.error();
  }
  return last;
}

Result<void> send_all(int fd, std::string_view bytes, Deadline deadline) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return make_error(fmt::format("send(): {}", std::strerror(errno)));
    auto ready = wait_for(fd, POLLOUT, deadline);
    if (!ready) return ready.error();
    if (!*ready) return make_error("timed out sending the request");
  }
  return {};
}

Result<std::string> receive_line(int fd, size_t max_bytes, Deadline deadline) {
  std::string line;
  for (;;) {
    char c = 0;
    const ssize_t n = ::recv(fd, &c, 1, 0);
    if (n == 1 && c == '\n') return line;
    if (n == 1) {
      if (line.size() + 1 >= max_bytes) return make_error("reply line too long");
      line += c;
      continue;
    }
    if (n == 0) return make_error("connection closed before a complete reply");
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return make_error(fmt::format("recv(): {}", std::strerror(errno)));
    auto ready = wait_for(fd, POLLIN, deadline);
    if (!ready) return ready.error();
    if (!*ready) return make_error("timed out waiting for the reply");
  }
}

}  // namespace ftvm::disk
