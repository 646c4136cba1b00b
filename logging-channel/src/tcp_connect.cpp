#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <thread>
#include <variant>

#include "logging_channel/tcp.h"
#include "socket_util.h"

namespace ftvm::channel {
namespace {

using Clock = std::chrono::steady_clock;

// Between attempts while the peer is not listening yet.
constexpr std::chrono::milliseconds kRetryPause{20};

// One attempt at one address. Returns the errno that made it fail (ETIMEDOUT when the
// deadline passed first) or a connected, blocking socket.
std::variant<UniqueFd, int> try_connect(const addrinfo& address, Clock::time_point deadline) {
  UniqueFd fd(::socket(address.ai_family, address.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                       address.ai_protocol));
  if (!fd.valid()) return errno;
  if (::connect(fd.get(), address.ai_addr, address.ai_addrlen) != 0) {
    if (errno != EINPROGRESS) return errno;
    auto ready = poll_one(fd.get(), POLLOUT, ms_until(deadline));
    if (!ready) return EIO;
    if (*ready == 0) return ETIMEDOUT;
    int error = 0;
    socklen_t length = sizeof(error);
    if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
    if (error != 0) return error;
  }
  if (!set_nonblocking(fd.get(), false)) return errno;
  return fd;
}

}  // namespace

Result<UniqueFd> connect_tcp(const Endpoint& to, std::chrono::milliseconds timeout) {
  auto addresses = resolve(to, /*passive=*/false);
  if (!addresses) return addresses.error();
  const auto start = Clock::now();
  const auto deadline = start + timeout;
  int last_error = ETIMEDOUT;
  while (true) {
    for (const addrinfo* address = addresses->get(); address; address = address->ai_next) {
      auto attempt = try_connect(*address, deadline);
      if (auto* fd = std::get_if<UniqueFd>(&attempt)) {
        if (auto ok = set_no_delay(fd->get()); !ok) return ok.error();
        return std::move(*fd);
      }
      last_error = std::get<int>(attempt);
    }
    // Refused means nothing listens yet; the peer may be starting. Anything else (no route,
    // a firewall's silence until the deadline) will not improve by retrying at once.
    if (last_error != ECONNREFUSED || Clock::now() + kRetryPause >= deadline) break;
    std::this_thread::sleep_for(kRetryPause);
  }
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  return make_error(fmt::format(
      "peer unreachable at {} after {} ms: {}; is the peer running and listening there?",
      to.to_string(), waited.count(), errno_text(last_error)));
}

}  // namespace ftvm::channel
