#include "logging_channel/console_splicer.h"

#include <gtest/gtest.h>

namespace ftvm::channel {
namespace {

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
std::string text(const std::vector<uint8_t>& v) {
  return {v.begin(), v.end()};
}

TEST(ConsoleSplicerTest, DropsTheReEmittedOverlapAndShowsTheRest) {
  ConsoleSplicer splicer;
  splicer.from_primary(bytes("tick=1\ntick=2\nti"));
  splicer.backup_resumes_at(7);  // the primary had said it released "tick=1\n"
  EXPECT_EQ(text(splicer.from_backup(bytes("tick=2"))), "");
  EXPECT_EQ(text(splicer.from_backup(bytes("\ntick=3\n"))), "ck=3\n");
  EXPECT_EQ(splicer.overlap(), 9u);
  EXPECT_EQ(splicer.gap(), 0u);
  EXPECT_FALSE(splicer.mismatch());
  EXPECT_EQ(splicer.shown(), 21u);
}

TEST(ConsoleSplicerTest, ReportsAnOverlapThatDiffers) {
  ConsoleSplicer splicer;
  splicer.from_primary(bytes("abcdef"));
  splicer.backup_resumes_at(2);
  EXPECT_EQ(text(splicer.from_backup(bytes("cdXfgh"))), "gh");
  ASSERT_TRUE(splicer.mismatch());
  EXPECT_NE(splicer.mismatch()->find("byte 4"), std::string::npos);
}

TEST(ConsoleSplicerTest, ReportsAGapWhenTheBackupResumesBeyondWhatWasShown) {
  ConsoleSplicer splicer;
  splicer.from_primary(bytes("abc"));
  splicer.backup_resumes_at(5);
  EXPECT_EQ(text(splicer.from_backup(bytes("fg"))), "fg");
  EXPECT_EQ(splicer.gap(), 2u);
}

// Issue 11, item 11: when the one status query failed, the splicer assumed the backup resumed
// where the client's view ended and showed re-emitted bytes as new without a word. Now the
// cutover says it was not checked.
TEST(ConsoleSplicerTest, AnUnknownResumeOffsetLeavesTheCutoverMarkedUnchecked) {
  ConsoleSplicer splicer;
  splicer.from_primary(bytes("abc"));
  EXPECT_TRUE(splicer.overlap_checked());
  EXPECT_EQ(text(splicer.from_backup(bytes("def"))), "def");
  EXPECT_EQ(splicer.overlap(), 0u);
  EXPECT_FALSE(splicer.overlap_checked());
}

TEST(ConsoleSplicerTest, AKnownResumeOffsetIsChecked) {
  ConsoleSplicer splicer;
  splicer.from_primary(bytes("abc"));
  splicer.backup_resumes_at(3);
  EXPECT_EQ(text(splicer.from_backup(bytes("def"))), "def");
  EXPECT_TRUE(splicer.overlap_checked());
}

// Issue 11, item 1: once the backup is live the primary's output is never shown, even if a
// stalled primary resumes and writes.
TEST(ConsoleSplicerTest, NothingFromThePrimaryIsShownAfterItIsCutOff) {
  ConsoleSplicer splicer;
  EXPECT_EQ(splicer.from_primary(bytes("E=1\n")).size(), 4u);
  splicer.primary_cut_off();
  EXPECT_TRUE(splicer.from_primary(bytes("E=2\n")).empty());
  EXPECT_EQ(splicer.withheld_from_primary(), 4u);
  splicer.backup_resumes_at(4);
  EXPECT_EQ(text(splicer.from_backup(bytes("E=2\n"))), "E=2\n");
  EXPECT_EQ(splicer.shown(), 8u);
  EXPECT_EQ(splicer.gap(), 0u);
}

// A live backup becomes the primary of the next pair: its stream goes on where it was (here
// still inside its overlap), and the next backup to go live resumes in the same offsets.
TEST(ConsoleSplicerTest, APromotedBackupIsSplicedWithTheNextBackupAsThePrimaryWas) {
  ConsoleSplicer splicer;
  splicer.from_primary(bytes("abcdef"));
  splicer.primary_cut_off();
  splicer.backup_resumes_at(2);
  EXPECT_EQ(text(splicer.from_backup(bytes("cd"))), "");
  splicer.promote_backup();
  EXPECT_EQ(text(splicer.from_primary(bytes("efgh"))), "gh");
  EXPECT_EQ(splicer.shown(), 8u);
  splicer.primary_cut_off();
  EXPECT_TRUE(splicer.from_primary(bytes("i")).empty());
  splicer.backup_resumes_at(7);
  EXPECT_EQ(text(splicer.from_backup(bytes("hij"))), "ij");
  EXPECT_EQ(splicer.overlap(), 5u);
  EXPECT_EQ(splicer.gap(), 0u);
  EXPECT_FALSE(splicer.mismatch());
  EXPECT_EQ(splicer.shown(), 10u);
}

TEST(ConsoleSplicerTest, APromotedBackupsOverlapIsStillChecked) {
  ConsoleSplicer splicer;
  splicer.from_primary(bytes("abcdef"));
  splicer.primary_cut_off();
  splicer.backup_resumes_at(3);
  splicer.promote_backup();
  EXPECT_EQ(text(splicer.from_primary(bytes("dXfg"))), "g");
  ASSERT_TRUE(splicer.mismatch());
  EXPECT_NE(splicer.mismatch()->find("byte 4"), std::string::npos);
}

// Gaps add up over failovers: each one's lost output counts.
TEST(ConsoleSplicerTest, GapsOfSuccessiveFailoversAddUp) {
  ConsoleSplicer splicer;
  splicer.from_primary(bytes("abc"));
  splicer.backup_resumes_at(4);
  EXPECT_EQ(text(splicer.from_backup(bytes("ef"))), "ef");
  splicer.promote_backup();
  splicer.backup_resumes_at(7);
  EXPECT_EQ(splicer.gap(), 3u);
}

}  // namespace
}  // namespace ftvm::channel
