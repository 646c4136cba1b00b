// Console input of a pair: held while the pair is in doubt, and applied exactly once by the
// side that runs the guest after a failover (issue 11, item 5).
#include "pair/input_router.h"

#include <gtest/gtest.h>

#include <string>

namespace ftvm {
namespace {

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
std::string text(const std::vector<uint8_t>& v) {
  return {v.begin(), v.end()};
}

TEST(InputTargetTest, InputWaitsWhileItIsUnclearWhichSideWillRun) {
  EXPECT_EQ(choose_input_target({}), InputTarget::kPrimary);
  EXPECT_EQ(choose_input_target({.suspicion = true}), InputTarget::kHold);
  EXPECT_EQ(choose_input_target({.primary_gone = true}), InputTarget::kHold);
  // Decided: the primary won the arbiter, or the backup is live.
  EXPECT_EQ(choose_input_target({.primary_runs_on = true, .suspicion = true}),
            InputTarget::kPrimary);
  EXPECT_EQ(choose_input_target({.primary_gone = true, .backup_live = true, .suspicion = true}),
            InputTarget::kBackup);
}

TEST(InputRouterTest, InputGoesOutInOrderAndOnce) {
  InputRouter router;
  router.typed(bytes("ab"));
  router.typed(bytes("cd"));
  EXPECT_EQ(text(router.waiting()), "abcd");
  router.gave_primary(3);
  EXPECT_EQ(text(router.waiting()), "d");
  router.gave_primary(1);
  EXPECT_TRUE(router.waiting().empty());
  EXPECT_EQ(router.given_to_primary(), 4u);
}

// Before, input the primary was given and that never reached the backup's log (in its pipe
// while it was stopped, or logged and never received) was gone when the backup won.
TEST(InputRouterTest, WhatThePrimaryWasGivenBeyondTheBackupsLogGoesToTheBackup) {
  InputRouter router;
  router.typed(bytes("ls\n"));
  router.gave_primary(3);
  router.backup_logged(3);  // the backup's log holds "ls\n"
  EXPECT_EQ(router.kept_bytes(), 0u);
  router.typed(bytes("cat f\n"));
  router.gave_primary(6);
  router.backup_logged(5);                  // ... and "cat f" of the next line so far
  router.typed(bytes("pwd\n"));             // typed while the pair is in doubt: held
  ASSERT_TRUE(router.backup_took_over(7));  // "ls\ncat " applied from the log
  EXPECT_EQ(router.given_again(), 2u);
  EXPECT_EQ(text(router.waiting()), "f\npwd\n");
  router.gave_backup(4);
  EXPECT_EQ(text(router.waiting()), "d\n");
}

TEST(InputRouterTest, ABackupThatAppliedEverythingGetsOnlyWhatIsNew) {
  InputRouter router;
  router.typed(bytes("abc"));
  router.gave_primary(3);
  router.typed(bytes("d"));
  ASSERT_TRUE(router.backup_took_over(3));
  EXPECT_EQ(router.given_again(), 0u);
  EXPECT_EQ(text(router.waiting()), "d");
}

TEST(InputRouterTest, AnImpossibleLogCountIsRefused) {
  InputRouter router;
  router.typed(bytes("abc"));
  router.gave_primary(3);
  auto more = router.backup_took_over(4);
  ASSERT_FALSE(more);
  EXPECT_NE(more.error().message.find("given only 3"), std::string::npos);
  router.backup_logged(2);
  EXPECT_FALSE(router.backup_took_over(1));
}

// The backup that took over gets a backup of its own, which takes over in turn: input is
// counted in one stream across both failovers, and each hands over only what its log lacked.
TEST(InputRouterTest, ASecondTakeoverGetsWhatTheLiveBackupWasGivenBeyondItsOwnBackupsLog) {
  InputRouter router;
  router.typed(bytes("abcd"));
  router.gave_primary(4);
  router.backup_logged(2);
  ASSERT_TRUE(router.backup_took_over(3));  // "abc" from the primary's log; "d" again
  EXPECT_EQ(text(router.waiting()), "d");
  router.gave_backup(1);
  router.typed(bytes("efg"));
  router.gave_primary(3);  // the live backup is the primary of the next pair now
  EXPECT_EQ(router.given_to_primary(), 7u);
  router.backup_logged(5);  // its joined backup's log holds "abcde"
  EXPECT_EQ(router.kept_bytes(), 2u);
  ASSERT_TRUE(router.backup_took_over(6));
  EXPECT_EQ(text(router.waiting()), "g");
  EXPECT_EQ(router.given_again(), 2u);
  EXPECT_FALSE(router.backup_took_over(8));
}

}  // namespace
}  // namespace ftvm
