#include "disk/etcd_arbiter.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace ftvm::disk {
namespace {

const TasClaim kClaim{"vm", 3, "backup", "00000000000000b1"};

TEST(EtcdArbiterTest, ParsesItsUri) {
  auto members = parse_etcd_members("etcd://127.0.0.1:23790,127.0.0.1:23791,[::1]:5");
  ASSERT_TRUE(members.ok()) << members.error().message;
  EXPECT_EQ(*members, (std::vector<std::string>{"127.0.0.1:23790", "127.0.0.1:23791", "[::1]:5"}));
  EXPECT_TRUE(is_etcd_arbiter("etcd://h:1"));
  EXPECT_FALSE(is_etcd_arbiter("127.0.0.1:7300"));
  for (const char* bad :
       {"etcd://", "etcd://host", "etcd://host:0", "etcd://:5", "etcd://h:x", "h:1"}) {
    EXPECT_FALSE(parse_etcd_members(bad).ok()) << bad;
  }
}

// The transaction creates the claim's key only if it does not exist, and otherwise reads it.
TEST(EtcdArbiterTest, TheTransactionCreatesTheKeyOnlyIfAbsent) {
  const auto body = nlohmann::json::parse(etcd_txn_body(kClaim));
  EXPECT_EQ(body["compare"][0]["target"], "CREATE");
  EXPECT_EQ(body["compare"][0]["create_revision"], "0");
  EXPECT_EQ(body["compare"][0]["key"], "ZnR2bS92bS8z");  // base64 of "ftvm/vm/3"
  EXPECT_EQ(body["success"][0]["request_put"]["key"], "ZnR2bS92bS8z");
  // base64 of "backup 00000000000000b1"
  EXPECT_EQ(body["success"][0]["request_put"]["value"], "YmFja3VwIDAwMDAwMDAwMDAwMDAwYjE=");
  EXPECT_EQ(body["failure"][0]["request_range"]["key"], "ZnR2bS92bS8z");
}

TEST(EtcdArbiterTest, ASucceededTransactionIsAWin) {
  auto outcome = parse_etcd_txn_response(
      R"({"header":{"revision":"7"},"succeeded":true,"responses":[{"response_put":{}}]})", kClaim);
  ASSERT_TRUE(outcome.ok()) << outcome.error().message;
  EXPECT_TRUE(outcome->won);
  EXPECT_EQ(outcome->winner, "backup");
}

// etcd 3.4 leaves "succeeded" out when it is false: the range says who holds the key.
TEST(EtcdArbiterTest, ALostTransactionNamesTheWinner) {
  auto outcome = parse_etcd_txn_response(
      R"({"header":{},"responses":[{"response_range":{"kvs":[{"key":"ZnR2bS92bS8z",)"
      R"("value":"cHJpbWFyeSAwMDAwMDAwMDAwMDAwMGEx"}],"count":"1"}}]})",
      kClaim);
  ASSERT_TRUE(outcome.ok()) << outcome.error().message;
  EXPECT_FALSE(outcome->won);
  EXPECT_EQ(outcome->winner, "primary");
}

// A request that timed out may have been applied: finding its own value is this side's win.
TEST(EtcdArbiterTest, FindingItsOwnClaimIsAWin) {
  auto outcome =
      parse_etcd_txn_response(R"({"responses":[{"response_range":{"kvs":[{"key":"ZnR2bS92bS8z",)"
                              R"("value":"YmFja3VwIDAwMDAwMDAwMDAwMDAwYjE="}]}}]})",
                              kClaim);
  ASSERT_TRUE(outcome.ok()) << outcome.error().message;
  EXPECT_TRUE(outcome->won);
  // The same side, another process (incarnation): not this one's win.
  outcome =
      parse_etcd_txn_response(R"({"responses":[{"response_range":{"kvs":[{"key":"ZnR2bS92bS8z",)"
                              R"("value":"YmFja3VwIDAwMDAwMDAwMDAwMDAwYjI="}]}}]})",
                              kClaim);
  ASSERT_TRUE(outcome.ok());
  EXPECT_FALSE(outcome->won);
}

TEST(EtcdArbiterTest, MalformedAnswersAreErrorsNeverWins) {
  for (const char* bad : {"", "not json", "[]", R"({"succeeded":"yes"})", R"({"header":{}})",
                          R"({"responses":[{}]})", R"({"responses":[{"response_range":{}}]})",
                          R"({"responses":[{"response_range":{"kvs":[{"key":"!!"}]}}]})",
                          R"({"responses":[{"response_range":{"kvs":"x"}}]})"}) {
    auto outcome = parse_etcd_txn_response(bad, kClaim);
    EXPECT_FALSE(outcome.ok()) << bad;
  }
}

TEST(EtcdArbiterTest, AQueryFindsTheHighestGeneration) {
  // ftvm/vm/2 -> "primary a", ftvm/vm/10 -> "backup b", ftvm/vm/x -> ignored
  auto winner =
      parse_etcd_range_response(R"({"kvs":[{"key":"ZnR2bS92bS8y","value":"cHJpbWFyeSBh"},)"
                                R"({"key":"ZnR2bS92bS8xMA==","value":"YmFja3VwIGI="},)"
                                R"({"key":"ZnR2bS92bS94","value":"YmFja3VwIGI="}],"count":"3"})",
                                "vm");
  ASSERT_TRUE(winner.ok()) << winner.error().message;
  ASSERT_TRUE(winner->has_value());
  EXPECT_EQ((*winner)->generation, 10u);
  EXPECT_EQ((*winner)->side, "backup");
  EXPECT_EQ((*winner)->incarnation, "b");
  auto none = parse_etcd_range_response(R"({"header":{}})", "vm");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

// No member answers: an error (after a short timeout each), never a win.
TEST(EtcdArbiterTest, UnreachableMembersAreAnError) {
  auto outcome =
      etcd_test_and_set({"127.0.0.1:1", "127.0.0.1:2"}, kClaim, std::chrono::milliseconds(200));
  ASSERT_FALSE(outcome.ok());
  EXPECT_NE(outcome.error().message.find("unreachable"), std::string::npos)
      << outcome.error().message;
}

}  // namespace
}  // namespace ftvm::disk
