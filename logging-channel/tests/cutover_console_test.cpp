#include "logging_channel/cutover_console.h"

#include <gtest/gtest.h>

#include <atomic>

namespace ftvm::channel {
namespace {

class StringConsole final : public ConsoleSink {
 public:
  void write(std::span<const uint8_t> bytes) override { text.append(bytes.begin(), bytes.end()); }
  std::string text;
};

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(CutoverConsoleTest, ShowsNothingWhileReplayingThenWhatThePrimaryMayNotHaveReleased) {
  StringConsole live;
  std::atomic<uint64_t> released{0};
  CutoverConsole console(live, [&] { return released.load(); });
  console.write(bytes("line 1\n"));
  released = 7;
  console.write(bytes("line 2\nli"));
  EXPECT_EQ(live.text, "");
  EXPECT_EQ(console.go_live(), 7u);
  EXPECT_EQ(live.text, "line 2\nli");
  console.write(bytes("ne 3\n"));
  EXPECT_EQ(live.text, "line 2\nline 3\n");
  EXPECT_EQ(console.produced(), 21u);
  EXPECT_EQ(console.resumed_at(), 7u);
}

TEST(CutoverConsoleTest, ResumesAtTheEndWhenEverythingWasReleased) {
  StringConsole live;
  std::atomic<uint64_t> released{0};
  CutoverConsole console(live, [&] { return released.load(); });
  console.write(bytes("abc"));
  released = 3;
  EXPECT_EQ(console.go_live(), 3u);
  EXPECT_EQ(live.text, "");
}

}  // namespace
}  // namespace ftvm::channel
