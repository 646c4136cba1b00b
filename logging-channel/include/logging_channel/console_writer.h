// Released output leaves on a thread of its own. The output gate releases from the link thread
// (on an ack) and from the vCPU thread; a write that blocks there (a terminal after Ctrl-S, a
// pipe into a slow reader) would stop acks and heartbeats, and the backup would declare a
// healthy primary lost. So the gate's downstream is this queue, and only its thread waits for
// the reader, writing to the real console (a sink that writes through to its descriptor).
//
// The queue is bounded by policy, not by dropping: while more than `backlog_limit` bytes wait,
// the guest is slowed (PrimaryDriver asks wait_for_room before each exit's output), as a serial
// line with flow control slows its sender. Nothing released is dropped.
//
// delivered_bytes() counts bytes the console took, not bytes queued: that is what the primary
// tells its backup it released, so a backup that takes over re-emits whatever died in the
// queue with the primary (duplicates at cutover are possible, losses are not).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "vmm/devices/console.h"

namespace ftvm::channel {

class ConsoleWriter final : public ConsoleSink {
 public:
  static constexpr size_t kDefaultBacklogLimit = size_t{1} << 20;

  // `console` is written from this writer's thread only, and must outlive the writer.
  explicit ConsoleWriter(ConsoleSink& console, size_t backlog_limit = kDefaultBacklogLimit);
  // drain(), then stops the thread.
  ~ConsoleWriter() override;
  ConsoleWriter(const ConsoleWriter&) = delete;
  ConsoleWriter& operator=(const ConsoleWriter&) = delete;

  // Any thread; never waits for the reader.
  void write(std::span<const uint8_t> bytes) override;
  // Returns once everything queued so far was written, however long the reader takes (saying
  // so on stderr after a second). After it, `console` may be read from the calling thread.
  void drain();

  // Blocks while the backlog is over the limit, for at most `most`. Returns how long it waited.
  std::chrono::nanoseconds wait_for_room(std::chrono::nanoseconds most);

  uint64_t delivered_bytes() const { return delivered_.load(); }
  uint64_t backlog_bytes() const;

 private:
  void loop();

  ConsoleSink& console_;
  const size_t backlog_limit_;
  mutable std::mutex mutex_;
  std::condition_variable queued_;
  std::condition_variable room_;
  std::vector<uint8_t> queue_;
  size_t in_flight_ = 0;  // taken by the writer thread, not yet written
  bool ending_ = false;
  std::atomic<uint64_t> delivered_{0};
  std::thread thread_;
};

}  // namespace ftvm::channel
