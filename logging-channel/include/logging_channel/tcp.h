// TCP for the logging channel: endpoints, listening, connecting and sending with deadlines,
// so a vanished peer surfaces as an error instead of a hang.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "vmm/result.h"
#include "vmm/unique_fd.h"

namespace ftvm::channel {

struct Endpoint {
  std::string host;  // a name, an IPv4 address or an IPv6 address (without brackets)
  uint16_t port = 0;

  // "127.0.0.1:7300", "[::1]:7300", "localhost:7300".
  static Result<Endpoint> parse(const std::string& text);
  // Whether `host` names this machine only: "localhost", 127.0.0.0/8, ::1 or an IPv4-mapped
  // 127.x address. Decided from the text, without resolving, so a name is not loopback.
  bool is_loopback() const;
  // The form parse() reads back.
  std::string to_string() const;
};

Result<UniqueFd> listen_tcp(const Endpoint& at);
// The address a socket is bound to, e.g. to learn the port after listening on port 0.
Result<Endpoint> local_endpoint(int fd);
// Waits up to `timeout` for one connection. The result has TCP_NODELAY: log chunks and acks
// are small and latency-bound.
Result<UniqueFd> accept_tcp(int listen_fd, std::chrono::milliseconds timeout);
// Connects, retrying refused connections until `timeout` because the peer may start later.
// The result has TCP_NODELAY.
Result<UniqueFd> connect_tcp(const Endpoint& to, std::chrono::milliseconds timeout);
// Sends every byte or fails: after `timeout` in which the peer took no byte, or when the
// connection breaks (no SIGPIPE). Progress, not size, decides: a large frame over a slow link
// that keeps moving is no timeout.
Result<void> send_all(int fd, std::span<const uint8_t> bytes, std::chrono::milliseconds timeout);
// Reads what is available into `into`, waiting up to `timeout` for something. Returns
// std::nullopt on timeout and 0 when the peer closed the connection; a reset connection is an
// error.
Result<std::optional<size_t>> receive_some(int fd, std::span<uint8_t> into,
                                           std::chrono::milliseconds timeout);

}  // namespace ftvm::channel
