#include "pair/primary_log.h"

#include <gtest/gtest.h>

namespace ftvm {
namespace {

replay::ConsoleInputEntry input(const std::string& text) {
  replay::ConsoleInputEntry entry;
  entry.bytes.assign(text.begin(), text.end());
  return entry;
}

// A backup that went live logs with no backup of its own yet: entries take LSNs from where its
// replay ended, nothing waits for acks, and console input counts on from what its guest had
// from the old primary's log, so that a joiner's count is in the pair's one stream.
TEST(PrimaryLogTest, WithoutABackupEntriesTakeLsnsAndInputIsCountedOn) {
  PrimaryLog log;
  log.begin_at(120, 7);
  EXPECT_EQ(log.link(), nullptr);
  EXPECT_TRUE(log.lost());
  EXPECT_EQ(log.next_lsn(), 120u);
  ASSERT_TRUE(log.append(replay::HorizonEntry{5}));
  ASSERT_TRUE(log.append(input("ls\n")));
  EXPECT_EQ(log.next_lsn(), 122u);
  EXPECT_EQ(log.console_input_logged(), 10u);
  log.set_exit_count(6);  // no link: nothing to tell
  log.flush_now();
  EXPECT_EQ(log.exit_count(), 0u);
}

}  // namespace
}  // namespace ftvm
