// The queue between the output gate and the console: writes never wait for the reader, the
// backlog is bounded by slowing the producer, and delivered bytes count only what the console
// took.
#include "logging_channel/console_writer.h"

#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <string>

namespace ftvm::channel {
namespace {

using namespace std::chrono_literals;

// A console whose reader is stopped until the test lets it go, like a terminal after Ctrl-S.
class StoppedReader final : public ConsoleSink {
 public:
  void write(std::span<const uint8_t> bytes) override {
    std::unique_lock lock(mutex_);
    ++writes_;
    resumed_.wait(lock, [this] { return reading_; });
    text_.append(bytes.begin(), bytes.end());
  }
  void resume() {
    std::lock_guard lock(mutex_);
    reading_ = true;
    resumed_.notify_all();
  }
  std::string text() {
    std::lock_guard lock(mutex_);
    return text_;
  }
  int writes() {
    std::lock_guard lock(mutex_);
    return writes_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable resumed_;
  bool reading_ = false;
  int writes_ = 0;
  std::string text_;
};

std::span<const uint8_t> bytes_of(const std::string& text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

TEST(ConsoleWriterTest, WritesDoNotWaitForAStoppedReaderAndKeepTheirOrder) {
  StoppedReader reader;
  ConsoleWriter writer(reader);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) writer.write(bytes_of(std::to_string(i) + ","));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
  EXPECT_EQ(writer.delivered_bytes(), 0u);
  EXPECT_GT(writer.backlog_bytes(), 0u);
  reader.resume();
  writer.drain();
  std::string expected;
  for (int i = 0; i < 100; ++i) expected += std::to_string(i) + ",";
  EXPECT_EQ(reader.text(), expected);
  EXPECT_EQ(writer.delivered_bytes(), expected.size());
  EXPECT_EQ(writer.backlog_bytes(), 0u);
}

TEST(ConsoleWriterTest, ABacklogOverTheLimitHoldsTheProducerBackUntilTheReaderTakesIt) {
  StoppedReader reader;
  ConsoleWriter writer(reader, 16);
  writer.write(bytes_of("0123456789abcdefXYZ"));  // 19 bytes: over the limit
  // Bounded: the producer is held for at most what it asks.
  const auto waited = writer.wait_for_room(50ms);
  EXPECT_GE(waited, 50ms);
  auto waiting = std::async(std::launch::async, [&] { return writer.wait_for_room(10s); });
  EXPECT_EQ(waiting.wait_for(50ms), std::future_status::timeout);
  reader.resume();
  EXPECT_LT(waiting.get(), 5s);
  writer.drain();
  EXPECT_EQ(reader.text(), "0123456789abcdefXYZ");
}

TEST(ConsoleWriterTest, UnderTheLimitTheProducerIsNotHeld) {
  StoppedReader reader;
  ConsoleWriter writer(reader, 64);
  writer.write(bytes_of("short"));
  EXPECT_LT(writer.wait_for_room(5s), 1s);
  reader.resume();
}

TEST(ConsoleWriterTest, TheDestructorWritesEverythingQueued) {
  StoppedReader reader;
  {
    ConsoleWriter writer(reader);
    writer.write(bytes_of("last words\n"));
    reader.resume();
  }
  EXPECT_EQ(reader.text(), "last words\n");
  EXPECT_GE(reader.writes(), 1);
}

}  // namespace
}  // namespace ftvm::channel
