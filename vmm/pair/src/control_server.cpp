#include "pair/control_server.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

namespace ftvm {
namespace {

constexpr size_t kMaxCommandBytes = 4096;
constexpr size_t kMaxReplyBytes = 1 << 20;
// A client that connects and says nothing must not hold up the next one for long.
constexpr timeval kClientTimeout{2, 0};

Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path) {
    return make_error(
        fmt::format("control socket path '{}' must be 1 to {} bytes long; choose a shorter path",
                    path, sizeof address.sun_path - 1));
  }
  std::memcpy(address.sun_path, path.c_str(), path.size());
  return address;
}

// A connected socket, or the errno of the failed connect.
Result<UniqueFd> connect_unix(const sockaddr_un& address, int& connect_errno) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return make_error(fmt::format("socket(): {}", std::strerror(errno)));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    connect_errno = errno;
    return make_error(std::strerror(errno));
  }
  return fd;
}

// Clears the way for bind(): removes a socket file nobody answers on any more.
Result<void> remove_stale_socket(const std::string& path, const sockaddr_un& address) {
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) return {};
  if (!S_ISSOCK(info.st_mode)) {
    return make_error(fmt::format(
        "{} exists and is not a socket; remove it or choose another control socket path", path));
  }
  int connect_errno = 0;
  if (connect_unix(address, connect_errno)) {
    return make_error(fmt::format(
        "another ftvm side is already running with control socket {}; stop it or choose "
        "another path",
        path));
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return make_error(
        fmt::format("cannot remove the stale control socket {}: {}", path, std::strerror(errno)));
  }
  return {};
}

Result<UniqueFd> bind_unix(const std::string& path, const sockaddr_un& address) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return make_error(fmt::format("socket(): {}", std::strerror(errno)));
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(fd.get(), 16) != 0) {
    return make_error(
        fmt::format("cannot listen on control socket {}: {}", path, std::strerror(errno)));
  }
  return fd;
}

void set_timeouts(int fd) {
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &kClientTimeout, sizeof kClientTimeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &kClientTimeout, sizeof kClientTimeout);
}

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads until `stop_at_newline` finds one, the peer closes, or the socket's timeout passes.
Result<std::string> receive(int fd, bool stop_at_newline) {
  std::string text;
  char buffer[4096];
  while (text.size() < (stop_at_newline ? kMaxCommandBytes : kMaxReplyBytes)) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(fmt::format("no reply: {}", std::strerror(errno)));
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (stop_at_newline && text.find('\n') != std::string::npos) break;
  }
  return text;
}

std::string err_line(const std::string& message) {
  return "ERR " + message + "\n";
}

}  // namespace

Result<std::unique_ptr<ControlServer>> ControlServer::start(const std::string& socket_path,
                                                            Handlers handlers) {
  auto address = unix_address(socket_path);
  if (!address) return address.error();
  if (auto r = remove_stale_socket(socket_path, *address); !r) return r.error();
  auto listener = bind_unix(socket_path, *address);
  if (!listener) return listener.error();
  UniqueFd stop_event(::eventfd(0, EFD_CLOEXEC));
  if (!stop_event.valid()) return make_error(fmt::format("eventfd(): {}", std::strerror(errno)));
  auto server = std::unique_ptr<ControlServer>(new ControlServer(
      socket_path, std::move(*listener), std::move(stop_event), std::move(handlers)));
  server->thread_ = std::thread([raw = server.get()] { raw->serve(); });
  return server;
}

ControlServer::ControlServer(std::string socket_path, UniqueFd listener, UniqueFd stop_event,
                             Handlers handlers)
    : socket_path_(std::move(socket_path)),
      listener_(std::move(listener)),
      stop_event_(std::move(stop_event)),
      handlers_(std::move(handlers)) {
  struct stat info {};
  if (::stat(socket_path_.c_str(), &info) == 0) {
    device_ = info.st_dev;
    inode_ = info.st_ino;
  }
}

ControlServer::~ControlServer() {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(stop_event_.get(), &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  struct stat info {};
  if (::stat(socket_path_.c_str(), &info) == 0 && info.st_dev == device_ && info.st_ino == inode_) {
    ::unlink(socket_path_.c_str());
  }
}

void ControlServer::serve() {
  for (;;) {
    pollfd fds[2] = {{stop_event_.get(), POLLIN, 0}, {listener_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[0].revents != 0) return;
    if (fds[1].revents == 0) continue;
    UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (client.valid()) answer(client.get());
  }
}

void ControlServer::answer(int fd) const {
  set_timeouts(fd);
  auto text = receive(fd, /*stop_at_newline=*/true);
  if (!text) return;
  const size_t newline = text->find('\n');
  if (newline == std::string::npos) {
    send_all(fd, err_line("send one command line ending with a newline"));
    return;
  }
  send_all(fd, reply_to(text->substr(0, newline)));
}

std::string ControlServer::reply_to(const std::string& line) const {
  const size_t space = line.find(' ');
  const std::string name = line.substr(0, space);
  const std::string args = space == std::string::npos ? "" : line.substr(space + 1);
  const auto handler = handlers_.find(name);
  if (handler == handlers_.end()) {
    std::string known;
    for (const auto& [command, unused] : handlers_) known += (known.empty() ? "" : ", ") + command;
    return err_line(fmt::format("unknown command '{}'; this side knows: {}", name, known));
  }
  try {
    std::string reply = handler->second(args);
    if (reply.empty() || reply.back() != '\n') reply += '\n';
    return reply;
  } catch (const std::exception& e) {
    return err_line(fmt::format("command '{}' failed: {}", name, e.what()));
  }
}

Result<std::string> send_control_command(const std::string& socket_path, const std::string& line,
                                         std::chrono::milliseconds timeout) {
  auto address = unix_address(socket_path);
  if (!address) return address.error();
  int connect_errno = 0;
  auto fd = connect_unix(*address, connect_errno);
  if (!fd) {
    if (connect_errno == ENOENT || connect_errno == ECONNREFUSED) {
      return make_error(fmt::format("no ftvm side is running with control socket {}", socket_path));
    }
    return make_error(
        fmt::format("cannot connect to control socket {}: {}", socket_path, fd.error().message));
  }
  const auto ms = timeout.count();
  const timeval limit{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>(ms % 1000 * 1000)};
  ::setsockopt(fd->get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  ::setsockopt(fd->get(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  if (!send_all(fd->get(), line + "\n")) {
    return make_error(
        fmt::format("cannot send to control socket {}: {}", socket_path, std::strerror(errno)));
  }
  auto reply = receive(fd->get(), /*stop_at_newline=*/false);
  if (!reply)
    return make_error(fmt::format("control socket {}: {}", socket_path, reply.error().message));
  if (reply->starts_with("ERR ")) {
    std::string message = reply->substr(4);
    if (!message.empty() && message.back() == '\n') message.pop_back();
    return make_error(message);
  }
  return reply;
}

}  // namespace ftvm
