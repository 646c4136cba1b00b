#include "disk/writer_fence.h"

#include <gtest/gtest.h>

namespace ftvm::disk {
namespace {

const WriterToken kPrimary{"web", 3, "0123abcd"};
const WriterToken kBackup{"web", 3, "89abcdef"};

TEST(WriterTokenTest, RoundTripsThroughItsText) {
  auto token = parse_writer_token("web/3/0123abcd");
  ASSERT_TRUE(token.ok()) << token.error().message;
  EXPECT_EQ(*token, kPrimary);
  EXPECT_EQ(format_writer_token(kPrimary), "web/3/0123abcd");
}

TEST(WriterTokenTest, RefusesMalformedTokensWithTheReason) {
  for (const char* text : {"", "web", "web/3", "web//0123abcd", "web/0/0123abcd", "web/x3/0123abcd",
                           "web/3/0123ABCD", "web/3/0123", "w b/3/0123abcd", "web/3/0123abcd/extra",
                           "web/99999999999999999999/0123abcd"}) {
    SCOPED_TRACE(text);
    auto token = parse_writer_token(text);
    ASSERT_FALSE(token.ok());
    EXPECT_FALSE(token.error().message.empty());
  }
}

TEST(WriterFenceTest, EveryWriterMayWriteUntilADecision) {
  WriterFence fence;
  EXPECT_EQ(fence.refusal(kPrimary), std::nullopt);
  EXPECT_EQ(fence.refusal(kBackup), std::nullopt);
  fence.record("other-vm", {"backup", 7, "ffffffff"});
  EXPECT_EQ(fence.refusal(kPrimary), std::nullopt);
}

TEST(WriterFenceTest, OnlyTheWinningProcessWritesItsGeneration) {
  WriterFence fence;
  fence.record("web", {"backup", 3, kBackup.incarnation});
  EXPECT_EQ(fence.refusal(kBackup), std::nullopt);
  const auto why = fence.refusal(kPrimary);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("fenced"), std::string::npos) << *why;
  EXPECT_NE(why->find("generation 3"), std::string::npos) << *why;
  EXPECT_NE(why->find(kBackup.incarnation), std::string::npos) << *why;
}

TEST(WriterFenceTest, ALaterGenerationFencesEveryEarlierWriter) {
  WriterFence fence;
  fence.record("web", {"primary", 4, "77777777"});
  EXPECT_TRUE(fence.refusal(kPrimary).has_value());
  EXPECT_TRUE(fence.refusal(kBackup).has_value());
  EXPECT_EQ(fence.refusal({"web", 5, "12121212"}), std::nullopt);
}

}  // namespace
}  // namespace ftvm::disk
