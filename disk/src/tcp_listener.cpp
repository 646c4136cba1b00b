#include "disk/tcp_listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>

#include "tcp_addresses.h"

namespace ftvm::disk {
namespace {

Result<UniqueFd> bind_and_listen(const addrinfo& ai, const std::string& address) {
  UniqueFd fd(::socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return make_error(fmt::format("socket(): {}", std::strerror(errno)));
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), ai.ai_addr, ai.ai_addrlen) != 0) {
    if (errno == EADDRINUSE) {
      return make_error(fmt::format(
          "cannot listen on {}: the port is in use (another arbiter?); stop that process or "
          "pick another port",
          address));
    }
    return make_error(fmt::format("cannot bind {}: {}", address, std::strerror(errno)));
  }
  if (::listen(fd.get(), SOMAXCONN) != 0) {
    return make_error(fmt::format("cannot listen on {}: {}", address, std::strerror(errno)));
  }
  return fd;
}

std::string format_sockaddr(const sockaddr_storage& storage) {
  char host[INET6_ADDRSTRLEN] = {};
  if (storage.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(storage);
    ::inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof host);
    return fmt::format("[{}]:{}", host, ntohs(in6.sin6_port));
  }
  const auto& in = reinterpret_cast<const sockaddr_in&>(storage);
  ::inet_ntop(AF_INET, &in.sin_addr, host, sizeof host);
  return fmt::format("{}:{}", host, ntohs(in.sin_port));
}

bool is_loopback_sockaddr(const sockaddr* address) {
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
  }
  return false;
}

}  // namespace

Result<HostPort> parse_host_port(std::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return make_error(
        fmt::format("invalid address '{}': expected HOST:PORT, e.g. 127.0.0.1:7300", address));
  }
  std::string_view host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string_view port_text = address.substr(colon + 1);
  uint16_t port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size()) {
    return make_error(
        fmt::format("invalid port in '{}': expected a number from 0 to 65535", address));
  }
  return HostPort{std::string(host), port};
}

Result<UniqueFd> listen_tcp(const std::string& address) {
  auto resolved = resolve(address, AI_PASSIVE);
  if (!resolved) return resolved.error();
  return bind_and_listen(*resolved->get(), address);
}

Result<void> adopt_listener(int fd) {
  int accepting = 0;
  socklen_t length = sizeof accepting;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) != 0 || !accepting) {
    return make_error(fmt::format(
        "file descriptor {} is not a listening socket; pass one the parent bound and listened on",
        fd));
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
      ::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
    return make_error(fmt::format("cannot set up listening fd {}: {}", fd, std::strerror(errno)));
  }
  return {};
}

Result<std::string> local_address(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) {
    return make_error(fmt::format("getsockname(): {}", std::strerror(errno)));
  }
  return format_sockaddr(storage);
}

Result<bool> is_loopback(const std::string& address) {
  auto resolved = resolve(address, 0);
  if (!resolved) return resolved.error();
  for (const addrinfo* ai = resolved->get(); ai != nullptr; ai = ai->ai_next) {
    if (!is_loopback_sockaddr(ai->ai_addr)) return false;
  }
  return true;
}

}  // namespace ftvm::disk
