#include "disk/etcd_arbiter.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "disk/tcp_listener.h"

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

// A member that misbehaves as etcd members do: one that accepts and never answers (a partitioned
// or overloaded member), one that closes the connection unanswered (a crash), one that answers
// 503 after a leader change, one that answers garbage, and a good one. Serves until destroyed.
class FakeMember {
 public:
  enum class Mode { kHang, kCloses, kUnavailable, kGarbage, kWins };

  explicit FakeMember(Mode mode) : mode_(mode) {
    auto listener = listen_tcp("127.0.0.1:0");
    EXPECT_TRUE(listener.ok());
    listener_ = std::move(*listener);
    // listen_tcp's socket is non-blocking (for poll loops); this server blocks in accept.
    ::fcntl(listener_.get(), F_SETFL, ::fcntl(listener_.get(), F_GETFL) & ~O_NONBLOCK);
    address_ = *local_address(listener_.get());
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeMember() {
    stopping_ = true;
    ::shutdown(listener_.get(), SHUT_RDWR);
    thread_.join();
  }
  const std::string& address() const { return address_; }
  int requests() const { return requests_.load(); }

 private:
  void serve() {
    std::vector<UniqueFd> held;  // a hanging member keeps its connections open, silent
    while (!stopping_) {
      UniqueFd connection(::accept(listener_.get(), nullptr, nullptr));
      if (!connection.valid()) return;
      ++requests_;
      char request[8192];
      [[maybe_unused]] const ssize_t n = ::recv(connection.get(), request, sizeof request, 0);
      std::string body;
      std::string status = "200 OK";
      switch (mode_) {
        case Mode::kHang:
          held.push_back(std::move(connection));
          continue;
        case Mode::kCloses:
          continue;  // closed without a word
        case Mode::kUnavailable:
          status = "503 Service Unavailable";
          body = R"({"error":"etcdserver: request timed out","code":14})";
          break;
        case Mode::kGarbage:
          body = "<html>not etcd</html>";
          break;
        case Mode::kWins:
          body = R"({"header":{"revision":"7"},"succeeded":true,"responses":[{}]})";
          break;
      }
      const std::string reply =
          "HTTP/1.1 " + status +
          "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\nConnection: close\r\n\r\n" + body;
      [[maybe_unused]] const ssize_t sent =
          ::send(connection.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
    }
  }

  Mode mode_;
  UniqueFd listener_;
  std::string address_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

// A member that hangs costs its timeout, one that answers 503 or garbage costs a request, and the
// next member's answer decides.
TEST(EtcdArbiterTest, HangingAndFailingMembersAreSkippedWithinTheirTimeouts) {
  FakeMember hang(FakeMember::Mode::kHang);
  FakeMember closes(FakeMember::Mode::kCloses);
  FakeMember unavailable(FakeMember::Mode::kUnavailable);
  FakeMember garbage(FakeMember::Mode::kGarbage);
  FakeMember good(FakeMember::Mode::kWins);
  const auto started = std::chrono::steady_clock::now();
  auto outcome = etcd_test_and_set(
      {hang.address(), closes.address(), unavailable.address(), garbage.address(), good.address()},
      kClaim, std::chrono::milliseconds(300));
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(outcome.ok()) << outcome.error().message;
  EXPECT_TRUE(outcome->won);
  EXPECT_EQ(hang.requests(), 1);
  EXPECT_EQ(closes.requests(), 1);
  EXPECT_EQ(unavailable.requests(), 1);
  EXPECT_EQ(garbage.requests(), 1);
  EXPECT_EQ(good.requests(), 1);
  EXPECT_LT(took, std::chrono::milliseconds(1500));  // one timeout, not one per member
}

// Members that hang or fail are no answer: an error naming why, never a win, in bounded time.
TEST(EtcdArbiterTest, NoGoodMemberIsAnErrorNeverAWin) {
  FakeMember hang(FakeMember::Mode::kHang);
  FakeMember unavailable(FakeMember::Mode::kUnavailable);
  FakeMember garbage(FakeMember::Mode::kGarbage);
  const auto started = std::chrono::steady_clock::now();
  auto outcome = etcd_test_and_set({hang.address(), unavailable.address(), garbage.address()},
                                   kClaim, std::chrono::milliseconds(300));
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(outcome.ok());
  const std::string& why = outcome.error().message;
  EXPECT_NE(why.find(hang.address() + " unreachable"), std::string::npos) << why;
  EXPECT_NE(why.find("HTTP 503"), std::string::npos) << why;
  EXPECT_NE(why.find(garbage.address() + ": etcd's answer is not a JSON object"), std::string::npos)
      << why;
  EXPECT_LT(took, std::chrono::milliseconds(1500));
}

}  // namespace
}  // namespace ftvm::disk
