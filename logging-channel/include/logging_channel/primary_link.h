// The primary's end of the logging channel. The vCPU thread appends log entries (it is the
// recorder's EntrySink); a link thread packs them into chunks, sends them with horizons and
// heartbeats, reads the backup's acks, releases held outputs through the OutputGate, tracks
// the lag and watches the backup with the two timeouts of PeerMonitor.
//
//   vCPU thread --append()--> chunk builder --(flush: urgent, interval or size)--> socket
//   socket --Ack--> OutputGate::release_through, LagTracker::backup_at, PeerMonitor::heard
//
// Once the backup is lost, append() drops entries (nobody will replay them) and never blocks.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "logging_channel/frame.h"
#include "logging_channel/lag_tracker.h"
#include "logging_channel/latency.h"
#include "logging_channel/messages.h"
#include "logging_channel/output_gate.h"
#include "logging_channel/peer_monitor.h"
#include "replay/chunk.h"
#include "replay/entry_sink.h"
#include "replay/landmark_choice.h"
#include "vmm/unique_fd.h"

namespace ftvm::channel {

struct PrimaryLinkOptions {
  LinkTimeouts timeouts;
  // Entries wait at most this long to be sent (batching); an output waiting for its ack is
  // sent at once.
  std::chrono::microseconds flush_interval{2000};
  // The log not yet sent. Beyond it the vCPU waits (backpressure) until the link drains.
  size_t max_buffered_bytes = size_t{64} << 20;
  // If set, every ack's replay costs go into it, for the recorder's --async auto choice. It
  // must outlive the link.
  replay::ReplayCostModel* replay_costs = nullptr;
  // What the backup is told the primary released (LogChunk/Heartbeat): the output bytes that
  // have left this process, e.g. ConsoleWriter::delivered_bytes. Unset: what the gate
  // released, for a gate whose downstream writes through.
  std::function<uint64_t()> delivered_output_bytes;
  // Called on the link thread with every ack's received_lsn, after the output gate released
  // what it allows: for the other outputs that wait for the log (DiskGate::release_through).
  std::function<void(uint64_t)> on_acked;
};

struct PrimaryLinkStats {
  uint64_t entries = 0;  // appended
  uint64_t chunks = 0;
  uint64_t frames = 0;
  uint64_t bytes_sent = 0;
  uint64_t acked_lsn = 0;     // entries the backup has received
  uint64_t replayed_lsn = 0;  // entries the backup has applied
  uint64_t backup_exit_count = 0;
  uint64_t backpressure_waits = 0;
  // The backup's latest replay costs (its latest ack; zero: not measured yet).
  double backup_breakpoint_hit_us = 0;
  double backup_checkpoint_load_us = 0;
  LatencySummary round_trip;
  int link_thread_nice = 0;  // favour_link_thread's result
  std::string peer_state;
};

class PrimaryLink final : public replay::EntrySink {
 public:
  PrimaryLink(UniqueFd socket, FrameKey key, OutputGate& gate, LagTracker& lag,
              PrimaryLinkOptions options);
  ~PrimaryLink() override;
  PrimaryLink(const PrimaryLink&) = delete;
  PrimaryLink& operator=(const PrimaryLink&) = delete;

  // Before start(): greets the backup (handshake.h) and tells it what to build.
  Result<void> send_hello(const Hello& hello);
  // Before start(), for a backup joining a running guest (Hello::state_follows): the state
  // transfer's messages, in order, after the hello.
  Result<void> send_state(const Message& message);
  // Before start() and before the first append(): the log starts at LSN `first_lsn`, where a
  // joined backup's transferred state ends. Until start(), appended entries wait unsent, so
  // that none can overtake the transfer's last message.
  void begin_log_at(uint64_t first_lsn);
  // Before start(): waits for the backup's first ack, which it sends once it has built the VM.
  // Until then the backup cannot answer heartbeats, and the failure detector must not run.
  Result<void> await_backup_ready(std::chrono::milliseconds timeout);
  // Starts the link thread. `peer_lost` runs once, on that thread, when the backup is declared
  // lost (its reason says why).
  void start(std::function<void(const std::string& reason)> peer_lost);

  // vCPU thread.
  Result<void> append(const replay::TraceEntry& entry) override;
  uint64_t next_lsn() const;
  // An output waits for the ack of everything appended so far: send it now, from this thread.
  void flush_now();
  void set_exit_count(uint64_t exit_count) { exit_count_.store(exit_count); }
  // The primary's exit count at its latest deterministic exit (any thread).
  uint64_t exit_count() const { return exit_count_.load(); }

  // Orderly end: sends what is left and a Goodbye, then stops the thread.
  void goodbye(const std::string& reason);
  // Stops the thread without a Goodbye (the backup is lost already). Returns once a peer_lost
  // callback under way (asking the arbiter) has finished, so its verdict can be read.
  void stop();
  // Instead of start(), for a joining backup that never became ready: append() drops entries
  // from now on, as after a loss, and nothing is sent or decided.
  void abandon(const std::string& reason);
  // Fault injection: from now on send nothing and ignore everything received, leaving the
  // socket open, as a network partition would.
  void cut() { cut_.store(true); }

  bool lost() const { return lost_.load(); }
  PrimaryLinkStats stats() const;

 private:
  using Clock = std::chrono::steady_clock;

  void loop();
  bool send_message(const Message& message);
  bool send_message_locked(const Message& message);
  void flush_if_due(Clock::time_point now, bool force);
  void receive();
  void handle(const Message& message, Clock::time_point now);
  void apply_acks(Clock::time_point arrived_at);
  void take_replay_costs(const Ack& ack);
  void lose(const std::string& reason);
  void wake();
  int poll_timeout_ms(Clock::time_point now) const;
  uint64_t delivered_output_bytes() const;

  UniqueFd socket_;
  UniqueFd wake_fd_;
  FrameKey pair_key_;  // the connection's keys are derived from it (handshake.h)
  FrameEncoder encoder_;
  FrameDecoder decoder_;
  OutputGate& gate_;
  LagTracker& lag_;
  PrimaryLinkOptions options_;
  PeerMonitor monitor_;
  std::function<void(const std::string&)> peer_lost_;

  // Shared with the vCPU thread.
  mutable std::mutex mutex_;
  std::condition_variable drained_;
  replay::ChunkBuilder builder_;
  std::deque<std::vector<uint8_t>> ready_;  // finished chunks not yet sent
  size_t buffered_bytes_ = 0;
  Clock::time_point first_unsent_{};
  // When the link thread's poll times out at the latest (Clock ticks), so that append() wakes
  // it only when a flush falls due before that.
  std::atomic<Clock::rep> link_wakes_at_{0};
  bool urgent_ = false;
  uint64_t entries_ = 0;
  uint64_t backpressure_waits_ = 0;
  uint64_t dropped_ = 0;  // entries appended after the backup was lost
  // The entries handed to the socket so far: no honest ack can count more.
  std::atomic<uint64_t> sent_lsn_{0};

  // Serialises sends (the encoder numbers frames) between the link and vCPU threads.
  std::mutex send_mutex_;
  std::atomic<bool> send_failed_{false};
  std::string send_error_;  // under stats_mutex_

  // Link thread only (stats() reads them under stats_mutex_).
  mutable std::mutex stats_mutex_;
  uint64_t chunks_ = 0;
  uint64_t frames_ = 0;
  uint64_t bytes_sent_ = 0;
  uint64_t acked_lsn_ = 0;
  uint64_t replayed_lsn_ = 0;
  uint64_t backup_exit_count_ = 0;
  replay::ReplayCosts backup_costs_;
  LatencyRecorder round_trip_;
  Clock::time_point last_sent_{};
  // Acks read but not yet applied (apply_acks): the latest, and the latest echo of a send.
  std::optional<Ack> unapplied_ack_;
  uint64_t unapplied_echo_ns_ = 0;
  std::string goodbye_reason_;

  std::atomic<uint64_t> exit_count_{0};
  std::atomic<int> link_thread_nice_{0};
  std::atomic<PeerMonitor::State> peer_state_{PeerMonitor::State::kAlive};
  std::atomic<bool> lost_{false};
  std::atomic<bool> cut_{false};
  std::atomic<bool> quit_{false};
  std::atomic<bool> started_{false};
  std::thread thread_;
};

}  // namespace ftvm::channel
