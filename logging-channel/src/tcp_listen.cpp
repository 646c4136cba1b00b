#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include "logging_channel/tcp.h"
#include "socket_util.h"

namespace ftvm::channel {
namespace {

constexpr int kBacklog = 16;

Error bind_error(const Endpoint& at, int error) {
  switch (error) {
    case EADDRINUSE:
      return make_error(fmt::format(
          "address in use: {} is taken by another process (or a previous run still holds it); "
          "pick another --listen port",
          at.to_string()));
    case EADDRNOTAVAIL:
      return make_error(fmt::format(
          "cannot listen on {}: that address does not belong to this machine; pick one of its "
          "addresses for --listen",
          at.to_string()));
    case EACCES:
      return make_error(fmt::format(
          "cannot listen on {}: permission denied (ports below 1024 need privileges); pick "
          "another --listen port",
          at.to_string()));
    default:
      return make_error(fmt::format("cannot listen on {}: {}", at.to_string(), errno_text(error)));
  }
}

// Non-blocking, so an accept after poll cannot hang when the client gave up in between.
Result<UniqueFd> listen_on(const addrinfo& address, const Endpoint& at) {
  UniqueFd fd(::socket(address.ai_family, address.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                       address.ai_protocol));
  if (!fd.valid()) {
    return make_error(
        fmt::format("cannot create a socket for {}: {}", at.to_string(), errno_text(errno)));
  }
  // A restarted primary or backup must be able to listen again at once, not after TIME_WAIT.
  const int on = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  if (::bind(fd.get(), address.ai_addr, address.ai_addrlen) != 0 ||
      ::listen(fd.get(), kBacklog) != 0) {
    return bind_error(at, errno);
  }
  return fd;
}

Endpoint endpoint_of(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof(text));
    return Endpoint{text, ntohs(v6.sin6_port)};
  }
  const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
  inet_ntop(AF_INET, &v4.sin_addr, text, sizeof(text));
  return Endpoint{text, ntohs(v4.sin_port)};
}

}  // namespace

Result<UniqueFd> listen_tcp(const Endpoint& at) {
  auto addresses = resolve(at, /*passive=*/true);
  if (!addresses) return addresses.error();
  std::optional<Error> first_error;
  for (const addrinfo* address = addresses->get(); address; address = address->ai_next) {
    auto fd = listen_on(*address, at);
    if (fd) return fd;
    if (!first_error) first_error = fd.error();
  }
  return *first_error;
}

Result<Endpoint> local_endpoint(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return make_error(fmt::format("cannot read a socket's address: {}", errno_text(errno)));
  }
  if (address.ss_family != AF_INET && address.ss_family != AF_INET6) {
    return make_error("the socket is not an IPv4 or IPv6 socket");
  }
  return endpoint_of(address);
}

Result<UniqueFd> accept_tcp(int listen_fd, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto ready = poll_one(listen_fd, POLLIN, ms_until(deadline));
    if (!ready) return ready.error();
    if (*ready == 0) {
      return make_error(fmt::format(
          "no peer connected within {} ms: is the peer running and pointed at this address?",
          timeout.count()));
    }
    UniqueFd fd(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
    if (!fd.valid()) {
      // The client went away between poll and accept: wait for the next one.
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED || errno == EINTR) {
        continue;
      }
      return make_error(fmt::format("accepting a connection failed: {}", errno_text(errno)));
    }
    if (auto ok = set_no_delay(fd.get()); !ok) return ok.error();
    return fd;
  }
}

}  // namespace ftvm::channel
