#include "tcp_addresses.h"

#include <fmt/format.h>
#include <sys/socket.h>

#include "disk/tcp_listener.h"

namespace ftvm::disk {

Result<AddrinfoList> resolve(const std::string& address, int flags) {
  auto host_port = parse_host_port(address);
  if (!host_port) return host_port.error();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = flags | AI_NUMERICSERV;
  addrinfo* list = nullptr;
  const std::string port = std::to_string(host_port->port);
  if (const int rc = ::getaddrinfo(host_port->host.c_str(), port.c_str(), &hints, &list); rc != 0) {
    return make_error(fmt::format("cannot resolve '{}': {}", host_port->host, ::gai_strerror(rc)));
  }
  return AddrinfoList(list);
}

}  // namespace ftvm::disk
