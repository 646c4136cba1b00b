#include <arpa/inet.h>
#include <fmt/format.h>

#include <charconv>

#include "logging_channel/tcp.h"

namespace ftvm::channel {
namespace {

Error bad_endpoint(const std::string& text, const char* why) {
  return make_error(
      fmt::format("bad endpoint '{}': {}; write HOST:PORT, e.g. 127.0.0.1:7300, [::1]:7300 or "
                  "localhost:7300",
                  text, why));
}

Result<uint16_t> parse_port(const std::string& text, std::string_view digits) {
  unsigned value = 0;
  const auto* end = digits.data() + digits.size();
  const auto [stop, error] = std::from_chars(digits.data(), end, value);
  if (digits.empty() || error != std::errc() || stop != end || value > 65535) {
    return bad_endpoint(text, "the port must be a number from 0 to 65535");
  }
  return static_cast<uint16_t>(value);
}

bool is_ipv4_loopback(const std::string& host) {
  in_addr v4{};
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

bool is_ipv6_loopback(const std::string& host) {
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) != 1) return false;
  if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
  return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

}  // namespace

Result<Endpoint> Endpoint::parse(const std::string& text) {
  std::string_view rest = text;
  std::string host;
  if (rest.starts_with('[')) {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad_endpoint(text, "the '[' has no ']'");
    host = rest.substr(1, close - 1);
    rest.remove_prefix(close + 1);
    if (!rest.starts_with(':')) return bad_endpoint(text, "a ':' and a port must follow ']'");
    rest.remove_prefix(1);
  } else {
    const size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) return bad_endpoint(text, "there is no port");
    host = rest.substr(0, colon);
    if (host.find(':') != std::string::npos) {
      return bad_endpoint(text, "an IPv6 address needs brackets");
    }
    rest.remove_prefix(colon + 1);
  }
  if (host.empty()) return bad_endpoint(text, "the host is empty");
  auto port = parse_port(text, rest);
  if (!port) return port.error();
  return Endpoint{std::move(host), *port};
}

bool Endpoint::is_loopback() const {
  return host == "localhost" || is_ipv4_loopback(host) || is_ipv6_loopback(host);
}

std::string Endpoint::to_string() const {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

}  // namespace ftvm::channel
