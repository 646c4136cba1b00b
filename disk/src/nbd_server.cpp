#include "disk/nbd_server.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

#include "disk/nbd_session.h"

namespace ftvm::disk {

using namespace nbd;

namespace {

constexpr unsigned kRingEntries = 512;
constexpr size_t kReceiveBytes = 256 << 10;
constexpr size_t kZeroChunkBytes = 1 << 20;
constexpr auto kAcceptRetry = std::chrono::milliseconds(50);
constexpr size_t kMaxSendChunks = 64;

bool valid_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

Errno nbd_error_for(int error) {
  switch (error) {
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
      return kEnospc;
    case EPERM:
    case EACCES:
    case EROFS:
      return kEperm;
    default:
      return kEio;
  }
}

struct Export {
  NbdExportSpec spec;
  UniqueFd fd;
  uint64_t size = 0;
};

}  // namespace

Result<NbdExportSpec> parse_export_spec(std::string_view spec) {
  const size_t equals = spec.find('=');
  if (equals == std::string_view::npos) {
    return make_error(fmt::format("export '{}' is not NAME=FILE", spec));
  }
  NbdExportSpec out{std::string(spec.substr(0, equals)), std::string(spec.substr(equals + 1)),
                    false};
  if (out.path.ends_with(":ro")) {
    out.path.resize(out.path.size() - 3);
    out.read_only = true;
  }
  const bool name_ok = !out.name.empty() && out.name.size() <= 64 && out.name[0] != '.' &&
                       std::all_of(out.name.begin(), out.name.end(), valid_name_char);
  if (!name_ok) {
    return make_error(fmt::format(
        "export name '{}' is not 1 to 64 letters, digits, '.', '_' or '-' (not starting with "
        "'.')",
        out.name));
  }
  if (out.path.empty()) return make_error(fmt::format("export '{}' names no file", out.name));
  return out;
}

// ---- The ring's bookkeeping ----------------------------------------------------------------

struct Connection;

// One submitted operation; its address is the completion's user_data.
struct Op {
  enum class Kind { kAccept, kAcceptRetry, kStop, kReceive, kSend, kFile, kSweep };
  enum class Step { kRead, kWrite, kSync, kPunch, kZeroRange, kWriteZeros };
  Kind kind;
  Connection* connection = nullptr;
  // File operations.
  NbdRequest request;
  Step step = Step::kRead;
  std::vector<uint8_t> buffer;
  uint64_t done = 0;        // bytes of the request handled so far
  bool sync_after = false;  // FUA: a data sync before the reply
  __kernel_timespec timeout{};
  // Receives: straight into a write's payload (NbdSession::payload_room) rather than the
  // connection's receive buffer.
  bool into_payload = false;
  // Sends: the queued replies this sendmsg covers.
  std::vector<iovec> iov;
  msghdr message{};
};

struct Connection {
  std::chrono::steady_clock::time_point opened = std::chrono::steady_clock::now();
  uint64_t id = 0;
  UniqueFd fd;
  NbdSession session;
  const Export* chosen = nullptr;
  std::vector<uint8_t> receive_buffer = std::vector<uint8_t>(kReceiveBytes);
  Op* receiving = nullptr;
  bool cancelling = false;
  bool sending = false;
  std::deque<std::vector<uint8_t>> unsent;
  size_t unsent_offset = 0;
  size_t unsent_bytes = 0;
  size_t requests_in_flight = 0;
  size_t bytes_in_flight = 0;  // file-op buffers
  int ops = 0;
  bool reading_done = false;
  std::string end_reason;
  uint64_t requests = 0;
  // Fencing (NbdServer::Options::fence).
  std::optional<WriterToken> writer;
  size_t changes_in_flight = 0;    // writes, trims, zeroings and flushes at the file
  std::deque<NbdRequest> waiting;  // behind a fenced writer's changes, in arrival order
  bool fenced_logged = false;

  explicit Connection(std::vector<NbdExportInfo> infos) : session(std::move(infos)) {}
};

struct NbdServer::Impl {
  UniqueFd listener;
  UniqueFd stop_event;
  std::vector<Export> exports;
  Options options;
  io_uring ring{};
  bool ring_ready = false;
  bool disabled = false;  // created disabled: run() enables it on its own thread
  std::unordered_map<Op*, std::unique_ptr<Op>> ops;
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections;
  uint64_t next_id = 1;
  uint64_t stop_value = 0;
  bool stopping = false;
  bool change_finished = false;  // set by finish_request, for complete()

  ~Impl() {
    if (ring_ready) io_uring_queue_exit(&ring);  // cancels what is in flight before buffers go
  }

  void log(const std::string& line) const {
    if (options.log) options.log(line);
  }

  io_uring_sqe* sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    if (s == nullptr) {
      io_uring_submit(&ring);
      s = io_uring_get_sqe(&ring);
    }
    return s;  // never null after a submit: the ring's entries were just handed to the kernel
  }

  Op* new_op(Op::Kind kind, Connection* c) {
    auto op = std::make_unique<Op>();
    op->kind = kind;
    op->connection = c;
    Op* raw = op.get();
    ops.emplace(raw, std::move(op));
    if (c != nullptr) ++c->ops;
    return raw;
  }

  std::unique_ptr<Op> finish_op(Op* op) {
    auto node = ops.extract(op);
    if (op->connection != nullptr) --op->connection->ops;
    return std::move(node.mapped());
  }

  std::vector<NbdExportInfo> export_infos() const {
    std::vector<NbdExportInfo> infos;
    for (const auto& e : exports) infos.push_back({e.spec.name, e.size, e.spec.read_only});
    return infos;
  }

  void post_accept() {
    io_uring_sqe* s = sqe();
    io_uring_prep_accept(s, listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data(s, new_op(Op::Kind::kAccept, nullptr));
  }

  void post_stop_read() {
    io_uring_sqe* s = sqe();
    io_uring_prep_read(s, stop_event.get(), &stop_value, sizeof stop_value, 0);
    io_uring_sqe_set_data(s, new_op(Op::Kind::kStop, nullptr));
  }

  void accepted(int result);
  void post_sweep();
  void sweep();
  void pump(Connection& c);
  void post_receive(Connection& c);
  void post_send(Connection& c);
  void sent(Connection& c, size_t count);
  void admit(Connection& c, NbdRequest request);
  bool must_wait(const Connection& c, const NbdRequest& request) const;
  std::optional<std::string> refusal(const Connection& c) const;
  void release_waiting(const Connection& finished);
  void start_request(Connection& c, NbdRequest request);
  void submit_file_step(Op& op);
  bool file_done(Op& op, int result);
  void finish_request(Op& op, Errno error, std::string_view message);
  void queue(Connection& c, std::vector<uint8_t> bytes);
  void end(Connection& c, std::string reason);
  void complete(io_uring_cqe* cqe);
  Result<void> run();
};

NbdServer::NbdServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NbdServer::~NbdServer() = default;

Result<std::unique_ptr<NbdServer>> NbdServer::create(UniqueFd listener,
                                                     const std::vector<NbdExportSpec>& exports,
                                                     Options options) {
  if (exports.empty()) return make_error("the NBD service needs at least one --export");
  auto impl = std::make_unique<Impl>();
  // io_uring would answer EAGAIN for a non-blocking socket instead of waiting on it.
  const int flags = ::fcntl(listener.get(), F_GETFL);
  if (flags < 0 || ::fcntl(listener.get(), F_SETFL, flags & ~O_NONBLOCK) < 0) {
    return make_error(
        fmt::format("cannot make the NBD listener blocking: {}", std::strerror(errno)));
  }
  impl->listener = std::move(listener);
  impl->options = std::move(options);
  for (const auto& spec : exports) {
    for (const auto& e : impl->exports) {
      if (e.spec.name == spec.name) {
        return make_error(fmt::format("export name '{}' is given twice", spec.name));
      }
    }
    UniqueFd fd(::open(spec.path.c_str(), (spec.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
    if (!fd.valid()) {
      return make_error(fmt::format("export '{}': cannot open {}: {}", spec.name, spec.path,
                                    std::strerror(errno)));
    }
    const off_t size = ::lseek(fd.get(), 0, SEEK_END);
    if (size < 0) {
      return make_error(fmt::format("export '{}': cannot size {}: {}", spec.name, spec.path,
                                    std::strerror(errno)));
    }
    impl->exports.push_back({spec, std::move(fd), static_cast<uint64_t>(size)});
  }
  impl->stop_event = UniqueFd(::eventfd(0, EFD_CLOEXEC));
  if (!impl->stop_event.valid()) {
    return make_error(fmt::format("eventfd(): {}", std::strerror(errno)));
  }
  // One thread submits and reaps: completion work can wait until it asks (kernels from 6.1;
  // older ones refuse the flags and get a plain ring). The ring starts disabled, so that the
  // thread that enables it in run() becomes its single issuer.
  int r = io_uring_queue_init(
      kRingEntries, &impl->ring,
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED);
  impl->disabled = r == 0;
  if (r == -EINVAL) r = io_uring_queue_init(kRingEntries, &impl->ring, 0);
  if (r < 0) {
    return make_error(
        fmt::format("cannot set up io_uring: {} (is io_uring disabled by "
                    "/proc/sys/kernel/io_uring_disabled?)",
                    std::strerror(-r)));
  }
  impl->ring_ready = true;
  return std::unique_ptr<NbdServer>(new NbdServer(std::move(impl)));
}

void NbdServer::stop() {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(impl_->stop_event.get(), &one, sizeof one);
}

Result<void> NbdServer::run() {
  return impl_->run();
}

Result<void> NbdServer::Impl::run() {
  if (disabled) {
    // liburing 2.3 declares io_uring_enable_rings but does not export it.
    if (::syscall(__NR_io_uring_register, ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0) <
        0) {
      return make_error(fmt::format("cannot enable the io_uring: {}", std::strerror(errno)));
    }
    disabled = false;
  }
  post_accept();
  post_stop_read();
  post_sweep();
  while (!stopping) {
    const int r = io_uring_submit_and_wait(&ring, 1);
    if (r < 0 && r != -EINTR) {
      return make_error(fmt::format("io_uring_submit_and_wait: {}", std::strerror(-r)));
    }
    io_uring_cqe* cqe = nullptr;
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      complete(cqe);
      ++seen;
    }
    io_uring_cq_advance(&ring, seen);
  }
  for (auto& [id, c] : connections) {
    log(fmt::format("nbd: connection {} closed: the server is stopping", id));
  }
  return {};
}

void NbdServer::Impl::complete(io_uring_cqe* cqe) {
  Op* raw = static_cast<Op*>(io_uring_cqe_get_data(cqe));
  if (raw == nullptr) return;  // a cancel's own completion
  std::unique_ptr<Op> op = finish_op(raw);
  const int result = cqe->res;
  Connection* c = op->connection;
  switch (op->kind) {
    case Op::Kind::kStop:
      stopping = true;
      return;
    case Op::Kind::kAccept:
      accepted(result);
      return;
    case Op::Kind::kAcceptRetry:
      post_accept();
      return;
    case Op::Kind::kSweep:
      sweep();
      return;
    case Op::Kind::kReceive:
      c->receiving = nullptr;
      if (result > 0 && op->into_payload) {
        c->session.payload_received(static_cast<size_t>(result));
      } else if (result > 0) {
        c->session.feed(
            std::span<const uint8_t>(c->receive_buffer.data(), static_cast<size_t>(result)));
      } else if (!c->reading_done) {
        end(*c, result == 0 || result == -ECONNRESET
                    ? "the client hung up"
                    : fmt::format("receiving failed: {}", std::strerror(-result)));
      }
      break;
    case Op::Kind::kSend:
      c->sending = false;
      if (result < 0) {
        end(*c, fmt::format("sending failed: {}", std::strerror(-result)));
        c->unsent.clear();
        c->unsent_bytes = 0;
        c->unsent_offset = 0;
      } else {
        sent(*c, static_cast<size_t>(result));
      }
      break;
    case Op::Kind::kFile:
      if (file_done(*op, result)) {
        ++c->ops;  // submitted again: back in the books
        Op* again = op.get();
        ops.emplace(again, std::move(op));
      }
      if (change_finished) {
        change_finished = false;
        release_waiting(*c);
      }
      break;
  }
  pump(*c);
}

// A timer that ends handshakes which take too long: a client that connects and says nothing
// must not hold a connection slot for ever.
void NbdServer::Impl::post_sweep() {
  Op* op = new_op(Op::Kind::kSweep, nullptr);
  const auto period = std::max(options.handshake_timeout / 4, std::chrono::milliseconds(10));
  op->timeout.tv_sec = period.count() / 1000;
  op->timeout.tv_nsec = (period.count() % 1000) * 1'000'000;
  io_uring_sqe* s = sqe();
  io_uring_prep_timeout(s, &op->timeout, 0, 0);
  io_uring_sqe_set_data(s, op);
}

void NbdServer::Impl::sweep() {
  const auto now = std::chrono::steady_clock::now();
  std::vector<Connection*> late;
  for (auto& [id, c] : connections) {
    if (!c->session.transmitting() && !c->reading_done &&
        now - c->opened > options.handshake_timeout) {
      late.push_back(c.get());
    }
  }
  for (Connection* c : late) {
    end(*c, fmt::format("no export chosen within {} ms of connecting",
                        options.handshake_timeout.count()));
    pump(*c);
  }
  if (!stopping) post_sweep();
}

void NbdServer::Impl::accepted(int result) {
  if (stopping) return;
  if (result < 0) {
    if (result != -EINTR && result != -ECONNABORTED) {
      log(fmt::format("nbd: accept failed: {}; retrying", std::strerror(-result)));
      // Out of descriptors, say: wait a little rather than spin on the same error.
      Op* wait = new_op(Op::Kind::kAcceptRetry, nullptr);
      wait->timeout.tv_nsec =
          std::chrono::duration_cast<std::chrono::nanoseconds>(kAcceptRetry).count();
      io_uring_sqe* s = sqe();
      io_uring_prep_timeout(s, &wait->timeout, 0, 0);
      io_uring_sqe_set_data(s, wait);
      return;
    }
    post_accept();
    return;
  }
  post_accept();
  UniqueFd fd(result);
  if (connections.size() >= options.max_connections) {
    log(fmt::format("nbd: refused a connection: already {} open", connections.size()));
    return;
  }
  const int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  auto c = std::make_unique<Connection>(export_infos());
  c->id = next_id++;
  c->fd = std::move(fd);
  Connection& ref = *c;
  connections.emplace(c->id, std::move(c));
  log(fmt::format("nbd: connection {} opened", ref.id));
  pump(ref);
}

// Moves a connection along: takes the requests its session decoded (as far as the limits
// allow), queues output, keeps one receive and one send posted, and closes it once it ended
// and nothing of it is in flight.
void NbdServer::Impl::pump(Connection& c) {
  while (!c.reading_done && c.requests_in_flight < options.max_requests_in_flight &&
         c.bytes_in_flight + c.unsent_bytes < options.max_bytes_in_flight) {
    auto next = c.session.next_request();
    if (!next) {
      end(c, next.error().message);
      break;
    }
    if (!*next) break;
    if (c.chosen == nullptr) {
      c.chosen = &exports[0];
      for (const auto& e : exports) {
        if (e.spec.name == c.session.export_info().name) c.chosen = &e;
      }
      c.writer = c.session.writer();
      log(fmt::format("nbd: connection {} uses export '{}'{}", c.id, c.chosen->spec.name,
                      c.writer ? " as writer " + format_writer_token(*c.writer) : ""));
    }
    admit(c, std::move(**next));
  }
  queue(c, c.session.take_output());
  if (!c.sending && !c.unsent.empty()) post_send(c);
  const bool room = c.requests_in_flight < options.max_requests_in_flight &&
                    c.bytes_in_flight + c.unsent_bytes < options.max_bytes_in_flight &&
                    c.session.buffered_bytes() < NbdSession::kMaxPayloadBytes + kReceiveBytes;
  if (!c.reading_done && c.receiving == nullptr && room) post_receive(c);
  if (c.reading_done && c.receiving != nullptr && !c.cancelling) {
    c.cancelling = true;
    io_uring_sqe* s = sqe();
    io_uring_prep_cancel(s, c.receiving, 0);
    io_uring_sqe_set_data(s, nullptr);
  }
  if (c.reading_done && c.ops == 0 && c.unsent.empty()) {
    log(fmt::format("nbd: connection {} closed after {} requests: {}", c.id, c.requests,
                    c.end_reason));
    connections.erase(c.id);
  }
}

void NbdServer::Impl::post_receive(Connection& c) {
  Op* op = new_op(Op::Kind::kReceive, &c);
  c.receiving = op;
  const std::span<uint8_t> payload = c.session.payload_room();
  op->into_payload = !payload.empty();
  const std::span<uint8_t> into = op->into_payload ? payload : std::span(c.receive_buffer);
  io_uring_sqe* s = sqe();
  io_uring_prep_recv(s, c.fd.get(), into.data(), into.size(), 0);
  io_uring_sqe_set_data(s, op);
}

// One sendmsg for as many queued replies as fit: replies that complete together leave in one
// system call, and a read's data leaves from its own buffer.
void NbdServer::Impl::post_send(Connection& c) {
  c.sending = true;
  Op* op = new_op(Op::Kind::kSend, &c);
  size_t offset = c.unsent_offset;
  for (auto& chunk : c.unsent) {
    if (op->iov.size() == kMaxSendChunks) break;
    op->iov.push_back({chunk.data() + offset, chunk.size() - offset});
    offset = 0;
  }
  op->message.msg_iov = op->iov.data();
  op->message.msg_iovlen = op->iov.size();
  io_uring_sqe* s = sqe();
  io_uring_prep_sendmsg(s, c.fd.get(), &op->message, MSG_NOSIGNAL);
  io_uring_sqe_set_data(s, op);
}

void NbdServer::Impl::sent(Connection& c, size_t count) {
  c.unsent_bytes -= count;
  while (count > 0) {
    const size_t left = c.unsent.front().size() - c.unsent_offset;
    if (count < left) {
      c.unsent_offset += count;
      return;
    }
    count -= left;
    c.unsent.pop_front();
    c.unsent_offset = 0;
  }
}

void NbdServer::Impl::end(Connection& c, std::string reason) {
  if (c.reading_done) return;
  c.reading_done = true;
  c.end_reason = std::move(reason);
}

void NbdServer::Impl::queue(Connection& c, std::vector<uint8_t> bytes) {
  if (bytes.empty()) return;
  c.unsent_bytes += bytes.size();
  c.unsent.push_back(std::move(bytes));
}

namespace {
bool changes_the_disk(const NbdRequest& request) {
  return request.type == kCmdWrite || request.type == kCmdTrim || request.type == kCmdWriteZeroes ||
         request.type == kCmdFlush;
}
}  // namespace

// Requests start in arrival order: once one waits, every later one of that connection waits
// behind it (held in the connection's request and byte budgets).
void NbdServer::Impl::admit(Connection& c, NbdRequest request) {
  if (c.waiting.empty() && !must_wait(c, request)) {
    start_request(c, std::move(request));
    return;
  }
  ++c.requests_in_flight;
  c.bytes_in_flight += request.payload.size();
  c.waiting.push_back(std::move(request));
}

std::optional<std::string> NbdServer::Impl::refusal(const Connection& c) const {
  if (options.fence == nullptr || !c.writer) return std::nullopt;
  return options.fence->refusal(*c.writer);
}

// A change by a writer the fence lets through waits while a fenced writer's changes to the
// same export are still at the file: they were let in before the decision, and io_uring could
// complete them after the winner's own.
bool NbdServer::Impl::must_wait(const Connection& c, const NbdRequest& request) const {
  if (options.fence == nullptr || !c.writer || !changes_the_disk(request) || refusal(c)) {
    return false;
  }
  for (const auto& [id, other] : connections) {
    if (other.get() != &c && other->chosen == c.chosen && other->changes_in_flight > 0 &&
        refusal(*other)) {
      return true;
    }
  }
  return false;
}

void NbdServer::Impl::release_waiting(const Connection& finished) {
  std::vector<Connection*> released;
  for (auto& [id, c] : connections) {
    bool any = false;
    while (!c->waiting.empty() && !must_wait(*c, c->waiting.front())) {
      NbdRequest request = std::move(c->waiting.front());
      c->waiting.pop_front();
      --c->requests_in_flight;
      c->bytes_in_flight -= std::min(c->bytes_in_flight, request.payload.size());
      start_request(*c, std::move(request));
      any = true;
    }
    if (any && c.get() != &finished) released.push_back(c.get());
  }
  // complete() pumps `finished` itself; pumping may close a connection, so not while iterating.
  for (Connection* c : released) pump(*c);
}

void NbdServer::Impl::start_request(Connection& c, NbdRequest request) {
  ++c.requests;
  if (request.type == kCmdDisc) {
    end(c, "the client disconnected");
    return;
  }
  if (const Errno error = c.session.check(request); error != kOk) {
    queue(c, c.session.reply(request, error, {}, "the request is invalid for this export"));
    return;
  }
  if (changes_the_disk(request)) {
    if (auto why = refusal(c)) {
      if (!c.fenced_logged) log(fmt::format("nbd: connection {}: {}", c.id, *why));
      c.fenced_logged = true;
      queue(c, c.session.reply(request, kEperm, {}, *why));
      return;
    }
    ++c.changes_in_flight;
  }
  Op* op = new_op(Op::Kind::kFile, &c);
  op->sync_after = (request.flags & kCmdFlagFua) != 0;
  switch (request.type) {
    case kCmdRead:
      op->step = Op::Step::kRead;
      op->buffer.resize(request.length);
      break;
    case kCmdWrite:
      op->step = Op::Step::kWrite;
      op->buffer = std::move(request.payload);
      break;
    case kCmdFlush:
      op->step = Op::Step::kSync;
      break;
    case kCmdTrim:
      op->step = Op::Step::kPunch;
      break;
    case kCmdWriteZeroes:
      op->step = (request.flags & kCmdFlagNoHole) ? Op::Step::kZeroRange : Op::Step::kPunch;
      break;
  }
  op->request = std::move(request);
  ++c.requests_in_flight;
  c.bytes_in_flight += op->buffer.size();
  if ((op->step == Op::Step::kPunch || op->step == Op::Step::kZeroRange) &&
      op->request.length == 0) {
    if (!op->sync_after) {  // nothing to do
      auto done = finish_op(op);
      finish_request(*done, kOk, {});
      return;
    }
    op->step = Op::Step::kSync;
  }
  submit_file_step(*op);
}

void NbdServer::Impl::submit_file_step(Op& op) {
  const int fd = op.connection->chosen->fd.get();
  const uint64_t offset = op.request.offset + op.done;
  const uint64_t left = op.request.length - op.done;
  io_uring_sqe* s = sqe();
  switch (op.step) {
    case Op::Step::kRead:
      io_uring_prep_read(s, fd, op.buffer.data() + op.done, static_cast<unsigned>(left), offset);
      break;
    case Op::Step::kWrite:
      io_uring_prep_write(s, fd, op.buffer.data() + op.done, static_cast<unsigned>(left), offset);
      if (op.sync_after) s->rw_flags = RWF_DSYNC;  // FUA: durable when it completes
      break;
    case Op::Step::kWriteZeros:
      io_uring_prep_write(s, fd, op.buffer.data(),
                          static_cast<unsigned>(std::min<uint64_t>(left, op.buffer.size())),
                          offset);
      break;
    case Op::Step::kSync:
      io_uring_prep_fsync(s, fd, IORING_FSYNC_DATASYNC);
      break;
    case Op::Step::kPunch:
      io_uring_prep_fallocate(s, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, left);
      break;
    case Op::Step::kZeroRange:
      io_uring_prep_fallocate(s, fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offset, left);
      break;
  }
  io_uring_sqe_set_data(s, &op);
}

// After one step of a request's file work: the next step (the rest of a short read or write,
// a fallback, the FUA sync), or the reply. True when a next step was submitted.
bool NbdServer::Impl::file_done(Op& op, int result) {
  Connection& c = *op.connection;
  const NbdRequest& request = op.request;
  if (result < 0 && (op.step == Op::Step::kPunch || op.step == Op::Step::kZeroRange) &&
      (result == -EOPNOTSUPP || result == -EINVAL)) {
    if (request.type == kCmdTrim) {
      result = 0;  // a trim is advice: a file system without holes may ignore it
    } else {
      op.step = Op::Step::kWriteZeros;  // no hole punching or zero ranges here: write zeroes
      op.buffer.assign(std::min<uint64_t>(request.length, kZeroChunkBytes), 0);
      c.bytes_in_flight += op.buffer.size();
      submit_file_step(op);
      return true;
    }
  }
  if (result < 0) {
    finish_request(
        op, nbd_error_for(-result),
        fmt::format("{} at offset {} failed: {}", request.type == kCmdRead ? "read" : "write",
                    request.offset, std::strerror(-result)));
    return false;
  }
  const bool transfers =
      op.step == Op::Step::kRead || op.step == Op::Step::kWrite || op.step == Op::Step::kWriteZeros;
  if (transfers) {
    if (result == 0) {
      finish_request(op, kEio, "the file ended early (did it shrink?)");
      return false;
    }
    op.done += static_cast<uint64_t>(result);
    if (op.done < request.length) {
      submit_file_step(op);
      return true;
    }
  }
  // FUA writes carry RWF_DSYNC; the other FUA requests sync once done.
  if (op.sync_after && op.step != Op::Step::kSync && op.step != Op::Step::kWrite) {
    op.step = Op::Step::kSync;
    submit_file_step(op);
    return true;
  }
  finish_request(op, kOk, {});
  return false;
}

void NbdServer::Impl::finish_request(Op& op, Errno error, std::string_view message) {
  Connection& c = *op.connection;
  const bool read = op.request.type == kCmdRead;
  c.bytes_in_flight -= std::min(c.bytes_in_flight, op.buffer.size());
  if (read && error == kOk) {
    queue(c, c.session.read_reply_header(op.request, op.buffer.size()));
    queue(c, std::move(op.buffer));
  } else {
    queue(c, c.session.reply(op.request, error, {}, message));
  }
  --c.requests_in_flight;
  if (changes_the_disk(op.request)) {
    --c.changes_in_flight;
    change_finished = true;
  }
}

}  // namespace ftvm::disk
