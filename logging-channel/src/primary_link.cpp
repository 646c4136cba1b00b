#include "logging_channel/primary_link.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>

#include "logging_channel/handshake.h"
#include "logging_channel/link_thread_priority.h"
#include "logging_channel/receive_message.h"
#include "logging_channel/tcp.h"

namespace ftvm::channel {
namespace {

// Chunks are cut at this size so that one large checkpoint does not delay the acks of the
// small entries behind it more than necessary.
constexpr size_t kChunkCutBytes = 256 << 10;
constexpr size_t kReceiveBytes = 64 << 10;

uint64_t steady_ns(std::chrono::steady_clock::time_point t) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

}  // namespace

PrimaryLink::PrimaryLink(UniqueFd socket, FrameKey key, OutputGate& gate, LagTracker& lag,
                         PrimaryLinkOptions options)
    : socket_(std::move(socket)),
      wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      pair_key_(key),
      encoder_(key),
      decoder_(key),
      gate_(gate),
      lag_(lag),
      options_(options),
      monitor_(options.timeouts, Clock::now()) {
  gate_.set_lease(lease_for(options.timeouts));
}

PrimaryLink::~PrimaryLink() {
  stop();
}

Result<void> PrimaryLink::send_hello(const Hello& hello) {
  // Building a VM may take the backup a while; the hello is the first thing it waits for.
  const auto timeout = options_.timeouts.declare * 10;
  std::array<uint8_t, kReceiveBytes> buffer;
  uint64_t bytes_received = 0;
  if (auto greeted = exchange_greetings({socket_.get(), ChannelRole::kPrimary, timeout, buffer},
                                        pair_key_, encoder_, decoder_, bytes_sent_, bytes_received);
      !greeted) {
    return greeted.error();
  }
  const auto frame = encoder_.encode(hello);
  if (auto r = send_all(socket_.get(), frame, timeout); !r) {
    return make_error("cannot send the VM to the backup: " + r.error().message);
  }
  bytes_sent_ += frame.size();
  frames_ += 2;
  last_sent_ = Clock::now();
  return {};
}

Result<void> PrimaryLink::send_state(const Message& message) {
  if (!send_message(message)) {
    std::lock_guard lock(stats_mutex_);
    return make_error(send_error_);
  }
  return {};
}

void PrimaryLink::begin_log_at(uint64_t first_lsn) {
  {
    std::lock_guard lock(mutex_);
    builder_ = replay::ChunkBuilder(first_lsn);
    sent_lsn_.store(first_lsn);
  }
  std::lock_guard lock(stats_mutex_);
  acked_lsn_ = first_lsn;
}

void PrimaryLink::start(std::function<void(const std::string&)> peer_lost) {
  started_.store(true);
  peer_lost_ = std::move(peer_lost);
  monitor_.heard(Clock::now());
  thread_ = std::thread([this] { loop(); });
}

Result<void> PrimaryLink::append(const replay::TraceEntry& entry) {
  std::unique_lock lock(mutex_);
  while (buffered_bytes_ > options_.max_buffered_bytes && !lost_.load()) {
    ++backpressure_waits_;
    drained_.wait_for(lock, std::chrono::milliseconds(100));
  }
  if (lost_.load()) {
    // Nobody will replay it, but it still takes an LSN: output held behind it must never
    // count as acknowledged (only the arbiter's verdict opens the gate now).
    ++dropped_;
    return {};
  }
  const size_t before = builder_.payload_bytes();
  if (auto r = builder_.add(entry); !r) return r;
  const bool first_unsent = builder_.entry_count() == 1 && ready_.empty();
  if (first_unsent) first_unsent_ = Clock::now();
  buffered_bytes_ += builder_.payload_bytes() - before;
  ++entries_;
  if (builder_.payload_bytes() >= kChunkCutBytes) {
    ready_.push_back(builder_.finish());
    urgent_ = true;
    lock.unlock();
    wake();
  } else if (first_unsent && Clock::time_point(Clock::duration(link_wakes_at_.load())) >
                                 first_unsent_ + options_.flush_interval) {
    // The link thread sleeps past this entry's flush (until a heartbeat is due, when the log
    // was idle): without a wake-up the entry would wait that long, and the backup would lag a
    // whole heartbeat behind an idle guest's timer ticks.
    lock.unlock();
    wake();
  }
  return {};
}

uint64_t PrimaryLink::next_lsn() const {
  std::lock_guard lock(mutex_);
  return builder_.next_lsn() + dropped_;
}

Result<void> PrimaryLink::await_backup_ready(std::chrono::milliseconds timeout) {
  std::array<uint8_t, kReceiveBytes> buffer;
  uint64_t bytes = 0;
  auto message = receive_message(socket_.get(), decoder_, buffer, timeout, "backup",
                                 "its first ack (it acks once it has built the VM)", bytes);
  if (!message) return message.error();
  if (const auto* ack = std::get_if<Ack>(&*message)) {
    take_replay_costs(*ack);
    return {};
  }
  if (const auto* bye = std::get_if<Goodbye>(&*message)) {
    return make_error("the backup refused the VM: " + bye->reason);
  }
  return make_error(fmt::format("protocol error: the backup sent a {} message before it was ready",
                                message_name(*message)));
}

// The vCPU thread sends the chunk itself: an output is waiting for its ack, and handing the
// send to the link thread would add a thread wake-up to every held output's latency.
void PrimaryLink::flush_now() {
  if (lost_.load() || cut_.load() || !started_.load()) return;
  flush_if_due(Clock::now(), true);
}

void PrimaryLink::wake() {
  const uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_.get(), &one, sizeof(one));
}

void PrimaryLink::goodbye(const std::string& reason) {
  {
    std::lock_guard lock(mutex_);
    goodbye_reason_ = reason;
  }
  stop();
}

void PrimaryLink::stop() {
  quit_.store(true);
  wake();
  if (thread_.joinable()) thread_.join();
}

void PrimaryLink::abandon(const std::string& reason) {
  quit_.store(true);
  lose(reason);
}

bool PrimaryLink::send_message(const Message& message) {
  std::lock_guard send(send_mutex_);
  return send_message_locked(message);
}

// Either thread may send; a failure is acted on by the link thread (lose() may ask the
// arbiter, which must not stall the vCPU).
bool PrimaryLink::send_message_locked(const Message& message) {
  if (send_failed_.load()) return false;
  const auto frame = encoder_.encode(message);
  if (auto r = send_all(socket_.get(), frame, options_.timeouts.declare); !r) {
    {
      std::lock_guard lock(stats_mutex_);
      send_error_ = "cannot send to the backup: " + r.error().message;
    }
    send_failed_.store(true);
    wake();
    return false;
  }
  std::lock_guard lock(stats_mutex_);
  bytes_sent_ += frame.size();
  ++frames_;
  last_sent_ = Clock::now();
  return true;
}

void PrimaryLink::flush_if_due(Clock::time_point now, bool force) {
  // Held from taking the chunks until they are sent, so chunks leave in LSN order whichever
  // thread sends them.
  std::lock_guard send(send_mutex_);
  std::deque<std::vector<uint8_t>> chunks;
  uint64_t through_lsn;
  {
    std::lock_guard lock(mutex_);
    const bool pending = !builder_.empty() || !ready_.empty();
    if (!pending) return;
    if (!force && !urgent_ && now - first_unsent_ < options_.flush_interval) return;
    if (!builder_.empty()) ready_.push_back(builder_.finish());
    chunks.swap(ready_);
    through_lsn = builder_.next_lsn();
    sent_lsn_.store(through_lsn);
    urgent_ = false;
  }
  Clock::time_point stamp;
  for (auto& chunk : chunks) {
    const size_t payload = chunk.size() - replay::kChunkHeaderBytes;
    stamp = Clock::now();
    LogChunk message{steady_ns(stamp), delivered_output_bytes(), std::move(chunk)};
    if (!send_message_locked(message)) return;
    {
      std::lock_guard lock(stats_mutex_);
      ++chunks_;
    }
    std::lock_guard lock(mutex_);
    buffered_bytes_ -= std::min(buffered_bytes_, payload);
  }
  gate_.sent_through(through_lsn, stamp);
  drained_.notify_all();
}

uint64_t PrimaryLink::delivered_output_bytes() const {
  return options_.delivered_output_bytes ? options_.delivered_output_bytes()
                                         : gate_.released_bytes();
}

// The ack's figures as they are, in the stats; the model keeps its previous value for a zero.
void PrimaryLink::take_replay_costs(const Ack& ack) {
  const replay::ReplayCosts costs{static_cast<double>(ack.breakpoint_hit_ns) / 1000.0,
                                  static_cast<double>(ack.checkpoint_load_ns) / 1000.0};
  if (options_.replay_costs != nullptr) options_.replay_costs->report(costs);
  std::lock_guard lock(stats_mutex_);
  backup_costs_ = costs;
}

void PrimaryLink::handle(const Message& message, Clock::time_point now) {
  if (const auto* ack = std::get_if<Ack>(&message)) {
    if (ack->received_lsn > sent_lsn_.load()) {
      lose(
          fmt::format("protocol error: the backup acknowledged {} log entries, but only {} were "
                      "sent",
                      ack->received_lsn, sent_lsn_.load()));
      return;
    }
    monitor_.heard(now);
    const uint64_t now_ns = steady_ns(now);
    if (ack->echo_sent_ns != 0 && ack->echo_sent_ns <= now_ns) {
      unapplied_echo_ns_ = std::max(unapplied_echo_ns_, ack->echo_sent_ns);
      std::lock_guard lock(stats_mutex_);
      round_trip_.add(std::chrono::nanoseconds(now_ns - ack->echo_sent_ns));
    }
    if (!unapplied_ack_ || ack->received_lsn >= unapplied_ack_->received_lsn) unapplied_ack_ = *ack;
    return;
  }
  if (const auto* bye = std::get_if<Goodbye>(&message)) {
    lose("the backup closed the channel: " + bye->reason);
    return;
  }
  lose(fmt::format("protocol error: the backup sent a {} message", message_name(message)));
}

// Acks read together are applied as one: a burst of one-byte outputs (one exit each, each sent
// in its own frame and acked on its own) leaves in one write, after one pass through the gate,
// instead of one per ack while the later ones wait.
void PrimaryLink::apply_acks(Clock::time_point arrived_at) {
  if (!unapplied_ack_) return;
  const Ack ack = *std::exchange(unapplied_ack_, std::nullopt);
  if (const uint64_t echo = std::exchange(unapplied_echo_ns_, 0); echo != 0) {
    gate_.renew_lease(Clock::time_point(
        std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(echo))));
  }
  gate_.release_through(ack.received_lsn, arrived_at);
  if (options_.on_acked) options_.on_acked(ack.received_lsn);
  lag_.backup_at(ack.replay_exit_count, arrived_at);
  take_replay_costs(ack);
  std::lock_guard lock(stats_mutex_);
  acked_lsn_ = std::max(acked_lsn_, ack.received_lsn);
  replayed_lsn_ = ack.replayed_lsn;
  backup_exit_count_ = ack.replay_exit_count;
}

void PrimaryLink::receive() {
  std::array<uint8_t, kReceiveBytes> buffer;
  auto got = receive_some(socket_.get(), buffer, std::chrono::milliseconds(0));
  if (!got) {
    lose("the channel to the backup failed: " + got.error().message);
    return;
  }
  if (!*got) return;
  if (**got == 0) {
    lose("the backup closed the channel (connection ended)");
    return;
  }
  if (cut_.load()) return;  // a partition: the bytes never arrived
  decoder_.feed(std::span<const uint8_t>(buffer.data(), **got));
  const auto now = Clock::now();
  while (!lost_.load()) {
    auto message = decoder_.next();
    if (!message) {
      lose("rejected a message from the backup: " + message.error().message);
      break;
    }
    if (!*message) break;
    handle(**message, now);
  }
  // The acks before a bad message are still the backup's word: it holds those entries.
  apply_acks(now);
}

int PrimaryLink::poll_timeout_ms(Clock::time_point now) const {
  Clock::time_point next = monitor_.next_deadline();
  {
    std::lock_guard lock(stats_mutex_);
    next = std::min(next, last_sent_ + options_.timeouts.heartbeat);
  }
  {
    std::lock_guard lock(mutex_);
    if (!builder_.empty() || !ready_.empty()) {
      next = std::min(next, first_unsent_ + options_.flush_interval);
    }
  }
  if (next <= now) return 0;
  const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - now);
  return static_cast<int>(std::min<int64_t>(wait.count(), 100));
}

void PrimaryLink::loop() {
  link_thread_nice_.store(favour_link_thread());
  while (!lost_.load() && !quit_.load()) {
    std::array<pollfd, 2> fds{{{socket_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}}};
    const auto before_poll = Clock::now();
    // "Never" first: an entry appended while the timeout is worked out then wakes the poll.
    link_wakes_at_.store(Clock::time_point::max().time_since_epoch().count());
    const int timeout_ms = poll_timeout_ms(before_poll);
    link_wakes_at_.store(
        (before_poll + std::chrono::milliseconds(timeout_ms)).time_since_epoch().count());
    ::poll(fds.data(), fds.size(), timeout_ms);
    if (fds[1].revents) {
      uint64_t count;
      [[maybe_unused]] auto n = ::read(wake_fd_.get(), &count, sizeof(count));
    }
    if (fds[0].revents) receive();
    if (send_failed_.load()) {
      std::string error;
      {
        std::lock_guard lock(stats_mutex_);
        error = send_error_;
      }
      lose(error);
    }
    if (lost_.load()) break;
    const auto now = Clock::now();
    if (!cut_.load()) {
      flush_if_due(now, false);
      bool heartbeat_due;
      {
        std::lock_guard lock(stats_mutex_);
        heartbeat_due = now - last_sent_ >= options_.timeouts.heartbeat;
      }
      if (heartbeat_due && !lost_.load()) {
        send_message(Heartbeat{steady_ns(now), delivered_output_bytes(), exit_count_.load()});
      }
    }
    auto state = monitor_.check(Clock::now());
    peer_state_.store(monitor_.state());
    if (state) {
      if (*state == PeerMonitor::State::kDeclared) {
        lose(monitor_.reason());
      } else {
        fmt::print(stderr, "ftvm: primary: backup suspected: {} ms without a message\n",
                   options_.timeouts.suspect.count());
      }
    }
  }
  if (lost_.load() || cut_.load()) return;
  // An orderly end: send the rest, wait for the backup to acknowledge it (so every held output
  // is released), then say goodbye.
  flush_if_due(Clock::now(), true);
  const uint64_t last = next_lsn();
  const auto deadline = Clock::now() + options_.timeouts.declare;
  while (!lost_.load() && Clock::now() < deadline) {
    {
      std::lock_guard lock(stats_mutex_);
      if (acked_lsn_ >= last) break;
    }
    pollfd fd{socket_.get(), POLLIN, 0};
    if (::poll(&fd, 1, 10) > 0) receive();
  }
  std::string reason;
  {
    std::lock_guard lock(mutex_);
    reason = goodbye_reason_;
  }
  if (!lost_.load() && !send_failed_.load()) send_message(Goodbye{reason});
}

void PrimaryLink::lose(const std::string& reason) {
  if (lost_.exchange(true)) return;
  monitor_.declare(reason);
  peer_state_.store(PeerMonitor::State::kDeclared);
  drained_.notify_all();
  if (quit_.load()) return;  // ending anyway: nothing to decide
  if (peer_lost_) peer_lost_(reason);
}

PrimaryLinkStats PrimaryLink::stats() const {
  PrimaryLinkStats s;
  {
    std::lock_guard lock(mutex_);
    s.entries = entries_;
    s.backpressure_waits = backpressure_waits_;
  }
  std::lock_guard lock(stats_mutex_);
  s.chunks = chunks_;
  s.frames = frames_;
  s.bytes_sent = bytes_sent_;
  s.acked_lsn = acked_lsn_;
  s.replayed_lsn = replayed_lsn_;
  s.backup_exit_count = backup_exit_count_;
  s.backup_breakpoint_hit_us = backup_costs_.breakpoint_hit_us;
  s.backup_checkpoint_load_us = backup_costs_.checkpoint_load_us;
  s.round_trip = round_trip_.summary();
  s.link_thread_nice = link_thread_nice_.load();
  s.peer_state = cut_.load() ? "cut" : peer_state_name(peer_state_.load());
  return s;
}

}  // namespace ftvm::channel
