// Listening TCP sockets for the arbiter, addressed as "HOST:PORT" ("127.0.0.1:7300",
// "[::1]:7300", "localhost:0"; port 0 picks a free one).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "vmm/result.h"
#include "vmm/unique_fd.h"

namespace ftvm::disk {

struct HostPort {
  std::string host;  // without IPv6 brackets
  uint16_t port = 0;
};
Result<HostPort> parse_host_port(std::string_view address);

// A non-blocking, close-on-exec listening socket bound to `address`.
Result<UniqueFd> listen_tcp(const std::string& address);

// Checks that `fd` is a listening TCP socket (one inherited from a parent, say) and makes it
// non-blocking and close-on-exec, as listen_tcp's are.
Result<void> adopt_listener(int fd);

// The address a socket is bound to, as "HOST:PORT" with the real port when it was 0.
Result<std::string> local_address(int fd);

// True if every address `address`'s host resolves to is a loopback one.
Result<bool> is_loopback(const std::string& address);

}  // namespace ftvm::disk
