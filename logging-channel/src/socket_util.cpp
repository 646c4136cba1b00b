#include "socket_util.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>

namespace ftvm::channel {

Result<AddrinfoList> resolve(const Endpoint& at, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  addrinfo* list = nullptr;
  const std::string port = std::to_string(at.port);
  const int status = getaddrinfo(at.host.c_str(), port.c_str(), &hints, &list);
  if (status != 0) {
    return make_error(fmt::format("cannot resolve host '{}' of {}: {}", at.host, at.to_string(),
                                  status == EAI_SYSTEM ? errno_text(errno) : gai_strerror(status)));
  }
  return AddrinfoList(list);
}

Result<void> set_no_delay(int fd) {
  const int on = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0) {
    return make_error(fmt::format("cannot set TCP_NODELAY: {}", errno_text(errno)));
  }
  return {};
}

Result<void> set_nonblocking(int fd, bool nonblocking) {
  const int flags = fcntl(fd, F_GETFL);
  const int wanted = nonblocking ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (flags < 0 || fcntl(fd, F_SETFL, wanted) != 0) {
    return make_error(fmt::format("cannot change O_NONBLOCK on a socket: {}", errno_text(errno)));
  }
  return {};
}

Result<int> poll_one(int fd, short events, int64_t timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    pollfd entry{fd, events, 0};
    const int ready =
        ::poll(&entry, 1, static_cast<int>(std::min<int64_t>(ms_until(deadline), INT_MAX)));
    if (ready >= 0) return ready;
    if (errno != EINTR) return make_error(fmt::format("poll failed: {}", errno_text(errno)));
  }
}

int64_t ms_until(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return std::max<int64_t>(left.count(), 0);
}

std::string errno_text(int error) {
  return std::strerror(error);
}

}  // namespace ftvm::channel
