#include "logging_channel/console_writer.h"

#include <fmt/format.h>

namespace ftvm::channel {
namespace {

// How long a drain may take before the user is told why the process has not ended.
constexpr std::chrono::seconds kDrainNotice{1};

}  // namespace

ConsoleWriter::ConsoleWriter(ConsoleSink& console, size_t backlog_limit)
    : console_(console), backlog_limit_(backlog_limit) {
  thread_ = std::thread([this] { loop(); });
}

ConsoleWriter::~ConsoleWriter() {
  drain();
  {
    std::lock_guard lock(mutex_);
    ending_ = true;
  }
  queued_.notify_all();
  thread_.join();
}

void ConsoleWriter::write(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return;
  std::lock_guard lock(mutex_);
  queue_.insert(queue_.end(), bytes.begin(), bytes.end());
  queued_.notify_one();
}

void ConsoleWriter::drain() {
  std::unique_lock lock(mutex_);
  auto empty = [this] { return queue_.empty() && in_flight_ == 0; };
  if (room_.wait_for(lock, kDrainNotice, empty)) return;
  fmt::print(stderr, "ftvm: waiting for the console's reader to take the last {} bytes of output\n",
             queue_.size() + in_flight_);
  room_.wait(lock, empty);
}

std::chrono::nanoseconds ConsoleWriter::wait_for_room(std::chrono::nanoseconds most) {
  const auto start = std::chrono::steady_clock::now();
  std::unique_lock lock(mutex_);
  room_.wait_for(lock, most, [this] { return queue_.size() + in_flight_ <= backlog_limit_; });
  return std::chrono::steady_clock::now() - start;
}

uint64_t ConsoleWriter::backlog_bytes() const {
  std::lock_guard lock(mutex_);
  return queue_.size() + in_flight_;
}

// Takes the whole queue at once, so a slow reader gets large writes rather than many small ones.
void ConsoleWriter::loop() {
  std::vector<uint8_t> taking;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      queued_.wait(lock, [this] { return !queue_.empty() || ending_; });
      if (queue_.empty()) return;  // ending, and everything was written
      taking.swap(queue_);
      in_flight_ = taking.size();
    }
    console_.write(taking);  // may block for as long as the reader likes
    delivered_.fetch_add(taking.size());
    {
      std::lock_guard lock(mutex_);
      in_flight_ = 0;
    }
    taking.clear();
    room_.notify_all();
  }
}

}  // namespace ftvm::channel
