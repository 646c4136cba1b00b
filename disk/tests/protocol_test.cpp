#include "disk/protocol.h"

#include <gtest/gtest.h>

namespace ftvm::disk {
namespace {

TEST(ProtocolTest, ParsesEveryRequest) {
  auto tas = parse_request("TAS vm-1 7 backup");
  ASSERT_TRUE(tas.ok()) << tas.error().message;
  EXPECT_EQ(std::get<TasRequest>(*tas), (TasRequest{"vm-1", 7, "backup"}));
  auto query = parse_request("QUERY vm_2.x");
  ASSERT_TRUE(query.ok()) << query.error().message;
  EXPECT_EQ(std::get<QueryRequest>(*query).vm_id, "vm_2.x");
  EXPECT_TRUE(parse_request("PING").ok());
}

TEST(ProtocolTest, RequestsRoundTrip) {
  const Request requests[] = {TasRequest{"a", 0, "primary"},
                              TasRequest{"x.Y_z-9", UINT64_MAX, "side-2"}, QueryRequest{"vm"},
                              PingRequest{}};
  for (const auto& request : requests) {
    std::string line = format_request(request);
    ASSERT_EQ(line.back(), '\n');
    line.pop_back();
    auto parsed = parse_request(line);
    ASSERT_TRUE(parsed.ok()) << line << ": " << parsed.error().message;
    EXPECT_EQ(*parsed, request) << line;
  }
}

TEST(ProtocolTest, RejectsMalformedRequests) {
  const char* bad[] = {
      "",
      "tas vm 1 backup",                     // keywords are upper case
      "TAS vm 1",                            // missing side
      "TAS vm 1 backup extra",               // extra word
      "TAS  vm 1 backup",                    // double space
      "TAS vm 1 backup ",                    // trailing space
      "TAS vm 01 backup",                    // leading zero
      "TAS vm -1 backup",                    // negative
      "TAS vm 18446744073709551616 backup",  // overflows u64
      "TAS vm 1 Backup",                     // sides are lower case
      "TAS vm/x 1 backup",                   // '/' not allowed in a VM id
      "TAS vm 1 backup\r",                   // control byte
      "QUERY",
      "PING now",
      "HELLO",
  };
  for (const char* line : bad) {
    auto parsed = parse_request(line);
    EXPECT_FALSE(parsed.ok()) << "accepted '" << line << "'";
    if (!parsed) {
      EXPECT_FALSE(parsed.error().message.empty());
    }
  }
}

TEST(ProtocolTest, ErrorsSayWhatIsWrong) {
  EXPECT_NE(parse_request("TAS vm x backup").error().message.find("invalid generation 'x'"),
            std::string::npos);
  EXPECT_NE(parse_request("FOO").error().message.find("use TAS, QUERY or PING"), std::string::npos);
  EXPECT_NE(parse_request("TAS " + std::string(65, 'v') + " 1 backup")
                .error()
                .message.find("1 to 64 characters"),
            std::string::npos);
}

TEST(ProtocolTest, RejectsOverlongLines) {
  const std::string id(64, 'v');
  std::string line = "TAS " + id + " 1 " + std::string(32, 's');
  ASSERT_TRUE(parse_request(line).ok());
  EXPECT_FALSE(parse_request(line + std::string(300, ' ')).ok());
}

TEST(ProtocolTest, RepliesRoundTrip) {
  const Reply replies[] = {
      WonReply{3}, LostReply{"backup", 4},   WinnerReply{"primary", 0}, NoneReply{},
      PongReply{}, ErrReply{"no such thing"}};
  for (const auto& reply : replies) {
    std::string line = format_reply(reply);
    line.pop_back();
    auto parsed = parse_reply(line);
    ASSERT_TRUE(parsed.ok()) << line << ": " << parsed.error().message;
    EXPECT_EQ(*parsed, reply) << line;
  }
}

TEST(ProtocolTest, ErrRepliesStayOneShortLine) {
  const std::string line = format_reply(ErrReply{"bad\nthing" + std::string(500, 'x')});
  EXPECT_LE(line.size(), kMaxLineBytes);
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_TRUE(line.starts_with("ERR bad?thing"));
}

TEST(ProtocolTest, RejectsMalformedReplies) {
  for (const char* line :
       {"WON", "WON x", "LOST backup", "WINNER 3 backup", "NONE 1", "ERR ", "OK"}) {
    EXPECT_FALSE(parse_reply(line).ok()) << "accepted '" << line << "'";
  }
}

}  // namespace
}  // namespace ftvm::disk
