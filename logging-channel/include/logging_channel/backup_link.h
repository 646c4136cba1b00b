// The backup's end of the logging channel. A link thread reads the primary's frames, checks
// each chunk (checksum, LSN continuity) before any entry reaches the replayer through the
// LogFeed, acks at once what each read brought, chunks and heartbeats (the primary's outputs
// wait for those acks), and watches the primary with PeerMonitor. When the primary is lost it
// closes the feed: the replayer then finishes the log, and the backup asks the arbiter whether
// it may go live.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "logging_channel/frame.h"
#include "logging_channel/messages.h"
#include "logging_channel/peer_monitor.h"
#include "replay/landmark_choice.h"
#include "replay/log_feed.h"
#include "vmm/unique_fd.h"

namespace ftvm::channel {

struct BackupLinkStats {
  uint64_t received_lsn = 0;
  uint64_t replayed_lsn = 0;
  uint64_t exit_count = 0;
  uint64_t chunks = 0;
  uint64_t bytes_received = 0;
  uint64_t primary_exit_count = 0;  // from the latest heartbeat
  uint64_t released_output_bytes = 0;
  // Console input bytes in the log received so far: once the backup is live, the input its
  // guest got through the log (ftvm pair gives it the rest of what the primary was given).
  uint64_t console_input_bytes = 0;
  int link_thread_nice = 0;  // favour_link_thread's result
  std::string peer_state;
};

class BackupLink {
 public:
  BackupLink(UniqueFd socket, FrameKey key, replay::LogFeed& feed, LinkTimeouts timeouts);
  ~BackupLink();
  BackupLink(const BackupLink&) = delete;
  BackupLink& operator=(const BackupLink&) = delete;

  // Greets the primary (handshake.h) and receives its first message: what VM to build.
  // Before start().
  Result<Hello> receive_hello(std::chrono::milliseconds timeout);
  // Before start(), after a hello with state_follows and before the state: this side has
  // built the VM and its devices, and takes the state now. The primary waits for it, so that
  // a backup slow to set up (a libvirt port takes a second or more) holds no running guest's
  // output: the transfer's last round, after which output waits for this side's acks, comes
  // only once this side reads.
  Result<void> ready_for_state();
  // Before start(), after a hello with state_follows: the state transfer's next message, a
  // StatePages or the StateDone (anything else is an error; a Goodbye says why).
  Result<Message> receive_state(std::chrono::milliseconds timeout);
  // Before start(): the log starts at LSN `first_lsn`, with `console_input_logged` bytes of
  // input logged before it (StateDone).
  void begin_log_at(uint64_t first_lsn, uint64_t console_input_logged);
  // `peer_lost` runs once, on the link thread, after the feed was closed because the primary
  // was lost (not after an orderly Goodbye).
  void start(std::function<void(const std::string& reason)> peer_lost);

  // vCPU thread: how far the replay got, for the next ack.
  void report_progress(uint64_t replayed_lsn, uint64_t exit_count) {
    replayed_lsn_.store(replayed_lsn);
    exit_count_.store(exit_count);
  }
  // vCPU thread: what the replay measured asynchronous landmarks to cost, for the next ack
  // (the primary's --async auto weighs them). Zero: none of that kind measured yet.
  void report_replay_costs(const replay::ReplayCosts& costs);
  // How many output bytes the primary said it had released (the backup re-emits any beyond
  // them when it goes live).
  uint64_t released_output_bytes() const { return released_output_bytes_.load(); }

  void cut() { cut_.store(true); }
  // Tells the primary this side is going away (the operator stopped it) and stops the thread.
  void goodbye(const std::string& reason);
  bool lost() const { return lost_.load(); }
  BackupLinkStats stats() const;

 private:
  using Clock = std::chrono::steady_clock;

  void loop();
  void receive();
  void handle(Message& message, Clock::time_point now);
  bool accept_chunk(const LogChunk& chunk);
  void send_ack(uint64_t echo_sent_ns);
  void lose(const std::string& reason, bool orderly);

  UniqueFd socket_;
  FrameKey pair_key_;  // the connection's keys are derived from it (handshake.h)
  FrameEncoder encoder_;
  FrameDecoder decoder_;
  replay::LogFeed& feed_;
  LinkTimeouts timeouts_;
  PeerMonitor monitor_;
  std::function<void(const std::string&)> peer_lost_;
  // Reused for every read: the link thread reads after every frame the primary sends.
  std::vector<uint8_t> receive_buffer_ = std::vector<uint8_t>(size_t{256} << 10);
  uint64_t next_lsn_ = 0;
  uint64_t stream_offset_ = 0;
  Clock::time_point last_sent_{};
  // The latest sent_ns of the frames read since the last ack (0: none).
  uint64_t unacked_echo_ns_ = 0;

  std::atomic<uint64_t> replayed_lsn_{0};
  std::atomic<uint64_t> exit_count_{0};
  std::atomic<uint64_t> breakpoint_hit_ns_{0};
  std::atomic<uint64_t> checkpoint_load_ns_{0};
  std::atomic<uint64_t> received_lsn_{0};
  std::atomic<uint64_t> chunks_{0};
  std::atomic<uint64_t> bytes_received_{0};
  std::atomic<uint64_t> primary_exit_count_{0};
  std::atomic<uint64_t> released_output_bytes_{0};
  std::atomic<uint64_t> console_input_bytes_{0};
  std::atomic<int> link_thread_nice_{0};
  std::atomic<PeerMonitor::State> peer_state_{PeerMonitor::State::kAlive};
  std::atomic<bool> lost_{false};
  std::atomic<bool> cut_{false};
  std::atomic<bool> quit_{false};
  std::mutex goodbye_mutex_;
  std::string goodbye_reason_;
  std::thread thread_;
};

}  // namespace ftvm::channel
