#include "disk/arbiter_server.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "disk/line_auth.h"
#include "disk/line_framer.h"
#include "disk/protocol.h"

namespace ftvm::disk {
namespace {

using Clock = std::chrono::steady_clock;
// How long accepting pauses when the process is out of descriptors (idle connections expire
// meanwhile and free some).
constexpr auto kAcceptPause = std::chrono::milliseconds(50);

}  // namespace

struct ArbiterServer::Connection {
  UniqueFd fd;
  LineFramer framer;
  std::string unsent;
  Clock::time_point deadline;
  bool closing = false;  // reply what is unsent, then close
  bool dead = false;     // close now
  // Sent a request signed with the pair's key: a side, which keeps its place when connections
  // must be shed.
  bool side = false;
};

ArbiterServer::ArbiterServer(UniqueFd listener, UniqueFd stop_event, ArbiterStore& store,
                             Options options)
    : listener_(std::move(listener)),
      stop_event_(std::move(stop_event)),
      store_(store),
      options_(std::move(options)) {}

ArbiterServer::~ArbiterServer() = default;

Result<std::unique_ptr<ArbiterServer>> ArbiterServer::create(UniqueFd listener, ArbiterStore& store,
                                                             Options options) {
  UniqueFd stop_event(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_event.valid()) return make_error(fmt::format("eventfd(): {}", std::strerror(errno)));
  return std::unique_ptr<ArbiterServer>(
      new ArbiterServer(std::move(listener), std::move(stop_event), store, std::move(options)));
}

void ArbiterServer::stop() {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(stop_event_.get(), &one, sizeof one);
}

Result<void> ArbiterServer::run() {
  std::vector<pollfd> fds;
  for (;;) {
    if (accept_paused_until_ && Clock::now() >= *accept_paused_until_) accept_paused_until_.reset();
    const int listener = accept_paused_until_ ? -1 : listener_.get();
    fds.assign({pollfd{stop_event_.get(), POLLIN, 0}, pollfd{listener, POLLIN, 0}});
    for (const auto& c : connections_) {
      const bool readable = !c->closing && c->unsent.size() <= options_.max_unsent_bytes;
      const short events =
          static_cast<short>((readable ? POLLIN : 0) | (c->unsent.empty() ? 0 : POLLOUT));
      fds.push_back(pollfd{c->fd.get(), events, 0});
    }
    if (::poll(fds.data(), fds.size(), poll_timeout_ms()) < 0 && errno != EINTR) {
      return make_error(fmt::format("poll(): {}", std::strerror(errno)));
    }
    if (fds[0].revents != 0) break;
    // Served before accepting: accepting may shed a connection, which would shift the indices.
    for (size_t i = 2; i < fds.size(); ++i) serve(*connections_[i - 2], fds[i].revents);
    if (fds[1].revents != 0) {
      if (auto r = accept_all(); !r) return r;
    }
    close_finished_and_idle();
    size_t unsent = 0;
    for (const auto& c : connections_) unsent += c->unsent.size();
    unsent_bytes_.store(unsent);
  }
  connections_.clear();
  return {};
}

Result<void> ArbiterServer::accept_all() {
  for (;;) {
    UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) {
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) return {};
      // Out of descriptors or memory: shed the idle connections rather than stop deciding.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        accept_paused_until_ = Clock::now() + kAcceptPause;
        return {};
      }
      return make_error(fmt::format("accept(): {}", std::strerror(errno)));
    }
    if (connections_.size() >= options_.max_connections) shed_least_active();
    auto connection = std::make_unique<Connection>();
    connection->fd = std::move(fd);
    connection->deadline = Clock::now() + options_.idle_timeout;
    connections_.push_back(std::move(connection));
  }
}

void ArbiterServer::serve(Connection& c, short revents) {
  if (revents & (POLLIN | POLLHUP | POLLERR)) {
    char buffer[4096];
    const ssize_t n = ::recv(c.fd.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      c.framer.feed(std::string_view(buffer, static_cast<size_t>(n)));
      answer_lines(c);
    } else if (n == 0) {
      c.closing = true;  // the peer is done sending; a partial last line is dropped
    } else if (errno != EAGAIN && errno != EINTR) {
      c.dead = true;
      return;
    }
  }
  while (!c.unsent.empty()) {
    const ssize_t n =
        ::send(c.fd.get(), c.unsent.data(), c.unsent.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) c.dead = true;
      return;
    }
    c.unsent.erase(0, static_cast<size_t>(n));
  }
}

void ArbiterServer::answer_lines(Connection& c) {
  while (!c.closing) {
    auto line = c.framer.next_line();
    if (!line) {
      c.unsent += format_reply(ErrReply{line.error().message});
      c.closing = true;
      return;
    }
    if (!*line) return;
    Answer answer = answer_line(**line);
    c.side = c.side || answer.signed_request;
    c.unsent += answer.reply;
    c.closing = answer.close;
    c.deadline = Clock::now() + options_.idle_timeout;
    if (answer.decision && options_.on_decision) options_.on_decision(*answer.decision);
  }
}

Answer ArbiterServer::answer_line(std::string_view line) {
  // PING stays open to all: it says only that the arbiter is up.
  if (options_.key.empty() || line == "PING") return answer_request(store_, line);
  auto request = open_request(options_.key, line);
  if (!request) {
    return Answer{format_reply(ErrReply{"this arbiter takes only requests signed with its "
                                        "--key-file: " +
                                        request.error().message}),
                  true, std::nullopt};
  }
  Answer answer = answer_request(store_, *request);
  answer.signed_request = true;
  if (answer.reply.starts_with("ERR ")) return answer;
  answer.reply.pop_back();  // the '\n'
  answer.reply = sign_reply(options_.key, *request, answer.reply) + "\n";
  return answer;
}

int ArbiterServer::poll_timeout_ms() const {
  if (connections_.empty() && !accept_paused_until_) return -1;
  Clock::time_point earliest = accept_paused_until_.value_or(Clock::time_point::max());
  for (const auto& c : connections_) earliest = std::min(earliest, c->deadline);
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(earliest - Clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, 60'000));
}

// The connection that answered nothing for longest goes, with a reason it can read: a side asks
// once and gets its answer at once, so what lingers is idle or greedy. With a key, connections
// that never sent a signed request go first: capacity is kept for the pair's sides.
void ArbiterServer::shed_least_active() {
  auto oldest =
      std::min_element(connections_.begin(), connections_.end(), [](const auto& a, const auto& b) {
        if (a->side != b->side) return !a->side;
        return a->deadline < b->deadline;
      });
  if (oldest == connections_.end()) return;
  const std::string busy = format_reply(ErrReply{"too many connections; this idle one is closed"});
  [[maybe_unused]] auto n =
      ::send((*oldest)->fd.get(), busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  connections_.erase(oldest);
}

void ArbiterServer::close_finished_and_idle() {
  const auto now = Clock::now();
  std::erase_if(connections_, [now](const std::unique_ptr<Connection>& c) {
    return c->dead || (c->closing && c->unsent.empty()) || now >= c->deadline;
  });
}

}  // namespace ftvm::disk
