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

TEST(ConsoleSplicerTest, ABackupWithoutAResumeOffsetContinuesWhereThePrimaryStopped) {
  ConsoleSplicer splicer;
  splicer.from_primary(bytes("abc"));
  EXPECT_EQ(text(splicer.from_backup(bytes("def"))), "def");
  EXPECT_EQ(splicer.overlap(), 0u);
}

}  // namespace
}  // namespace ftvm::channel
