#include "replay/log_feed.h"

namespace ftvm::replay {

void LogFeed::push(std::vector<LoggedEntry> entries) {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;  // a closed log is final: the replayer may already have acted on it
    received_ += entries.size();
    if (pending_.empty()) {
      pending_ = std::move(entries);
    } else {
      pending_.insert(pending_.end(), std::make_move_iterator(entries.begin()),
                      std::make_move_iterator(entries.end()));
    }
  }
  changed_.notify_all();
}

void LogFeed::close(std::string reason) {
  {
    std::lock_guard lock(mutex_);
    if (!closed_) closed_ = std::move(reason);
  }
  changed_.notify_all();
}

void LogFeed::request_stop(std::string reason) {
  {
    std::lock_guard lock(mutex_);
    if (!stop_) stop_ = std::move(reason);
  }
  changed_.notify_all();
}

LogFeed::Batch LogFeed::take_locked() {
  Batch batch{std::move(pending_), closed_, stop_};
  pending_.clear();
  return batch;
}

LogFeed::Batch LogFeed::take() {
  std::lock_guard lock(mutex_);
  return take_locked();
}

LogFeed::Batch LogFeed::wait(Clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  changed_.wait_until(lock, deadline, [this] { return !pending_.empty() || closed_ || stop_; });
  return take_locked();
}

uint64_t LogFeed::received() const {
  std::lock_guard lock(mutex_);
  return received_;
}

}  // namespace ftvm::replay
