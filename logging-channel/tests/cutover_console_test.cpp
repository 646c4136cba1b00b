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

// A backup that joined a running guest counts its stream from the handover, as the primary
// counts what it released: a cutover then resumes at the same offsets.
TEST(CutoverConsoleTest, AJoinedBackupsStreamStartsAtTheHandover) {
  StringConsole live;
  std::atomic<uint64_t> released{0};
  CutoverConsole console(live, [&] { return released.load(); });
  console.start_at(1000);
  console.write(bytes("abcdef"));
  released = 1003;
  EXPECT_EQ(console.produced(), 1006u);
  EXPECT_EQ(console.go_live(), 1003u);
  EXPECT_EQ(live.text, "def");
}

// The primary died before telling it anything newer than the handover: what it kept from the
// handover on is re-emitted (the primary's own output before it is not this side's to repeat).
TEST(CutoverConsoleTest, AJoinedBackupResumesNoEarlierThanTheHandover) {
  StringConsole live;
  std::atomic<uint64_t> released{0};
  CutoverConsole console(live, [&] { return released.load(); });
  console.start_at(500);
  console.write(bytes("xyz"));
  EXPECT_EQ(console.go_live(), 500u);
  EXPECT_EQ(live.text, "xyz");
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
