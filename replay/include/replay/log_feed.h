// The hand-off of a streamed log from the logging channel's thread to a replaying vCPU. The
// channel pushes entries as they arrive; the replayer takes them between exits, and blocks
// here when the log does not yet say what happens at its next exit (see Replayer).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "replay/chunk.h"

namespace ftvm::replay {

class LogFeed {
 public:
  using Clock = std::chrono::steady_clock;

  struct Batch {
    std::vector<LoggedEntry> entries;
    // No more entries will come (the primary is gone, or the channel failed); why.
    std::optional<std::string> closed;
    // The replay should stop (a signal, the operator), not go live; why.
    std::optional<std::string> stop;
  };

  // Channel thread.
  void push(std::vector<LoggedEntry> entries);
  // Ends the log. Entries pushed before stay available; the first reason wins.
  void close(std::string reason);

  // vCPU thread: everything pushed since the last take (possibly nothing).
  Batch take();
  // Like take(), but first waits until something was pushed, the log was closed, a stop was
  // requested or `deadline` passed.
  Batch wait(Clock::time_point deadline);
  // Asks the replaying vCPU to stop at its next turn; the first reason wins.
  void request_stop(std::string reason);

  // Entries pushed so far (the LSN the channel expects next), for acks.
  uint64_t received() const;

 private:
  Batch take_locked();

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<LoggedEntry> pending_;
  std::optional<std::string> closed_;
  uint64_t received_ = 0;
  std::optional<std::string> stop_;
};

}  // namespace ftvm::replay
