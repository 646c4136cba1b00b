#include "logging_channel/backup_link.h"

#include <fmt/format.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "logging_channel/handshake.h"
#include "logging_channel/link_thread_priority.h"
#include "logging_channel/receive_message.h"
#include "logging_channel/tcp.h"
#include "replay/chunk.h"

namespace ftvm::channel {
namespace {

// Ceiling: converting a double beyond uint64_t's range would be undefined; no replay cost
// comes near 1e18 ns.
constexpr double kMaxCostNs = 1e18;

// Rounded to the nearest ns; a figure below half a nanosecond, negative or NaN reads as "not
// measured".
uint64_t to_ns(double us) {
  const double ns = std::round(us * 1000.0);
  if (!(ns >= 1.0)) return 0;
  return static_cast<uint64_t>(std::min(ns, kMaxCostNs));
}

}  // namespace

BackupLink::BackupLink(UniqueFd socket, FrameKey key, replay::LogFeed& feed, LinkTimeouts timeouts)
    : socket_(std::move(socket)),
      pair_key_(key),
      encoder_(key),
      decoder_(key),
      feed_(feed),
      timeouts_(timeouts),
      monitor_(timeouts, Clock::now()) {}

BackupLink::~BackupLink() {
  quit_.store(true);
  if (thread_.joinable()) thread_.join();
}

Result<Hello> BackupLink::receive_hello(std::chrono::milliseconds timeout) {
  uint64_t bytes = 0;
  uint64_t bytes_sent = 0;
  auto greeted = exchange_greetings({socket_.get(), ChannelRole::kBackup, timeout, receive_buffer_},
                                    pair_key_, encoder_, decoder_, bytes_sent, bytes);
  if (!greeted) {
    bytes_received_ += bytes;
    return greeted.error();
  }
  auto message = receive_message(socket_.get(), decoder_, receive_buffer_, timeout, "primary",
                                 "the VM", bytes);
  bytes_received_ += bytes;
  if (!message) return message.error();
  auto* hello = std::get_if<Hello>(&*message);
  if (hello == nullptr) {
    return make_error(
        fmt::format("the primary's first message is a {}, not a hello", message_name(*message)));
  }
  if (hello->protocol_version != kProtocolVersion) {
    return make_error(fmt::format("the primary speaks channel protocol {}, this backup {}",
                                  hello->protocol_version, kProtocolVersion));
  }
  return std::move(*hello);
}

Result<void> BackupLink::ready_for_state() {
  if (auto r = send_all(socket_.get(), encoder_.encode(Ack{}), timeouts_.declare); !r) {
    return make_error("cannot tell the primary this backup is ready for its state: " +
                      r.error().message);
  }
  return {};
}

Result<Message> BackupLink::receive_state(std::chrono::milliseconds timeout) {
  uint64_t bytes = 0;
  auto message = receive_message(socket_.get(), decoder_, receive_buffer_, timeout, "primary",
                                 "the running guest's state", bytes);
  bytes_received_ += bytes;
  if (!message) return message.error();
  if (std::holds_alternative<StatePages>(*message) || std::holds_alternative<StateDone>(*message)) {
    return message;
  }
  if (const auto* bye = std::get_if<Goodbye>(&*message)) {
    return make_error("the primary ended the state transfer: " + bye->reason);
  }
  return make_error(
      fmt::format("protocol error: the primary sent a {} message during the state "
                  "transfer",
                  message_name(*message)));
}

void BackupLink::begin_log_at(uint64_t first_lsn, uint64_t console_input_logged) {
  console_input_bytes_.store(console_input_logged);
  next_lsn_ = first_lsn;
  received_lsn_.store(first_lsn);
  replayed_lsn_.store(first_lsn);
}

void BackupLink::start(std::function<void(const std::string&)> peer_lost) {
  peer_lost_ = std::move(peer_lost);
  monitor_.heard(Clock::now());
  thread_ = std::thread([this] { loop(); });
}

void BackupLink::goodbye(const std::string& reason) {
  {
    std::lock_guard lock(goodbye_mutex_);
    goodbye_reason_ = reason;
  }
  quit_.store(true);
  if (thread_.joinable()) thread_.join();
}

void BackupLink::report_replay_costs(const replay::ReplayCosts& costs) {
  breakpoint_hit_ns_.store(to_ns(costs.breakpoint_hit_us));
  checkpoint_load_ns_.store(to_ns(costs.checkpoint_load_us));
}

void BackupLink::send_ack(uint64_t echo_sent_ns) {
  if (cut_.load() || lost_.load()) return;
  const Ack ack{.received_lsn = received_lsn_.load(),
                .replayed_lsn = replayed_lsn_.load(),
                .replay_exit_count = exit_count_.load(),
                .echo_sent_ns = echo_sent_ns,
                .breakpoint_hit_ns = breakpoint_hit_ns_.load(),
                .checkpoint_load_ns = checkpoint_load_ns_.load()};
  if (auto r = send_all(socket_.get(), encoder_.encode(ack), timeouts_.declare); !r) {
    lose("cannot send to the primary: " + r.error().message, false);
    return;
  }
  last_sent_ = Clock::now();
}

// Every entry of a chunk is checked (checksum, LSN continuity, decodable) before any of it
// reaches the replayer: a bad chunk is never partly applied.
bool BackupLink::accept_chunk(const LogChunk& message) {
  auto step = replay::parse_chunk(message.chunk, stream_offset_, next_lsn_);
  if (!step) {
    lose("rejected a log chunk from the primary: " + step.error().message, false);
    return false;
  }
  auto* chunk = std::get_if<replay::DecodedChunk>(&*step);
  if (chunk == nullptr || chunk->info.total_bytes() != message.chunk.size()) {
    lose("rejected a log chunk from the primary: its frame does not hold exactly one chunk", false);
    return false;
  }
  stream_offset_ += message.chunk.size();
  next_lsn_ += chunk->info.entry_count;
  received_lsn_.store(next_lsn_);
  ++chunks_;
  for (const auto& logged : chunk->entries) {
    if (const auto* input = std::get_if<replay::ConsoleInputEntry>(&logged.entry)) {
      console_input_bytes_ += input->bytes.size();
    }
  }
  feed_.push(std::move(chunk->entries));
  return true;
}

void BackupLink::handle(Message& message, Clock::time_point now) {
  monitor_.heard(now);
  if (auto* chunk = std::get_if<LogChunk>(&message)) {
    if (!accept_chunk(*chunk)) return;
    released_output_bytes_.store(chunk->released_output_bytes);
    unacked_echo_ns_ = std::max(unacked_echo_ns_, chunk->sent_ns);
    return;
  }
  if (const auto* beat = std::get_if<Heartbeat>(&message)) {
    released_output_bytes_.store(beat->released_output_bytes);
    primary_exit_count_.store(beat->primary_exit_count);
    unacked_echo_ns_ = std::max(unacked_echo_ns_, beat->sent_ns);
    return;
  }
  if (const auto* bye = std::get_if<Goodbye>(&message)) {
    lose("the primary ended the log: " + bye->reason, true);
    return;
  }
  lose(fmt::format("protocol error: the primary sent a {} message after the hello",
                   message_name(message)),
       false);
}

void BackupLink::receive() {
  auto got = receive_some(socket_.get(), receive_buffer_, std::chrono::milliseconds(0));
  if (!got) {
    lose("the channel to the primary failed: " + got.error().message, false);
    return;
  }
  if (!*got) return;
  if (**got == 0) {
    lose("the primary closed the channel (connection ended)", false);
    return;
  }
  if (cut_.load()) return;  // a partition: the bytes never arrived
  bytes_received_ += **got;
  decoder_.feed(std::span<const uint8_t>(receive_buffer_.data(), **got));
  const auto now = Clock::now();
  while (!lost_.load()) {
    auto message = decoder_.next();
    if (!message) {
      lose("rejected a message from the primary: " + message.error().message, false);
      return;
    }
    if (!*message) break;
    handle(**message, now);
  }
  // One ack for everything read together: a burst of one-byte outputs comes as a frame per
  // byte, and an ack each would make the primary read them one by one while its outputs wait.
  if (const uint64_t echo = std::exchange(unacked_echo_ns_, 0); echo != 0) send_ack(echo);
}

void BackupLink::loop() {
  link_thread_nice_.store(favour_link_thread());
  while (!lost_.load() && !quit_.load()) {
    pollfd fd{socket_.get(), POLLIN, 0};
    ::poll(&fd, 1, static_cast<int>(timeouts_.heartbeat.count()));
    if (fd.revents) receive();
    if (lost_.load()) break;
    // Acks double as the backup's heartbeats; progress reports ride on them too.
    if (Clock::now() - last_sent_ >= timeouts_.heartbeat) send_ack(0);
    auto state = monitor_.check(Clock::now());
    peer_state_.store(monitor_.state());
    if (state == PeerMonitor::State::kDeclared) {
      lose(monitor_.reason(), false);
    } else if (state == PeerMonitor::State::kSuspected) {
      fmt::print(stderr, "ftvm: backup: primary suspected: {} ms without a message\n",
                 timeouts_.suspect.count());
    }
  }
  if (lost_.load() || cut_.load()) return;
  std::string reason;
  {
    std::lock_guard lock(goodbye_mutex_);
    reason = goodbye_reason_;
  }
  [[maybe_unused]] auto r =
      send_all(socket_.get(), encoder_.encode(Goodbye{reason}), timeouts_.declare);
}

void BackupLink::lose(const std::string& reason, bool orderly) {
  if (lost_.exchange(true)) return;
  monitor_.declare(reason);
  peer_state_.store(PeerMonitor::State::kDeclared);
  // Announce before closing the feed: the replayer acts on the close at once.
  if (!orderly && !quit_.load() && peer_lost_) peer_lost_(reason);
  feed_.close(reason);
}

BackupLinkStats BackupLink::stats() const {
  BackupLinkStats s;
  s.received_lsn = received_lsn_.load();
  s.replayed_lsn = replayed_lsn_.load();
  s.exit_count = exit_count_.load();
  s.chunks = chunks_.load();
  s.bytes_received = bytes_received_.load();
  s.primary_exit_count = primary_exit_count_.load();
  s.released_output_bytes = released_output_bytes_.load();
  s.console_input_bytes = console_input_bytes_.load();
  s.link_thread_nice = link_thread_nice_.load();
  s.peer_state = cut_.load() ? "cut" : peer_state_name(peer_state_.load());
  return s;
}

}  // namespace ftvm::channel
