#include "disk/protocol.h"

#include <gtest/gtest.h>

namespace ftvm::disk {
namespace {

TEST(ProtocolTest, ParsesEveryRequest) {
  auto from_a_process = parse_request("TAS vm-1 7 backup 0123456789abcdef");
  ASSERT_TRUE(from_a_process.ok()) << from_a_process.error().message;
  EXPECT_EQ(std::get<TasRequest>(*from_a_process),
            (TasRequest{"vm-1", 7, "backup", "0123456789abcdef"}));
  auto query = parse_request("QUERY vm_2.x");
  ASSERT_TRUE(query.ok()) << query.error().message;
  EXPECT_EQ(std::get<QueryRequest>(*query).vm_id, "vm_2.x");
  EXPECT_TRUE(parse_request("PING").ok());
}

TEST(ProtocolTest, RequestsRoundTrip) {
  const Request requests[] = {TasRequest{"a", 0, "primary", "0123456789abcdef"},
                              TasRequest{"x.Y_z-9", UINT64_MAX, "side-2", "00000000"},
                              TasRequest{"vm", 3, "backup", "00c0ffee00c0ffee"}, QueryRequest{"vm"},
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
      "tas vm 1 backup 0123456789abcdef",                     // keywords are upper case
      "TAS vm 1 backup",                                      // no incarnation
      "TAS vm 1",                                             // missing side
      "TAS vm 1 backup extra",                                // an incarnation is hex
      "TAS vm 1 backup 0123456",                              // too short an incarnation
      "TAS vm 1 backup 0123456789ABCDEF",                     // incarnations are lower case
      "TAS vm 1 backup 0123456789abcdef x",                   // extra word
      "TAS  vm 1 backup 0123456789abcdef",                    // double space
      "TAS vm 1 backup 0123456789abcdef ",                    // trailing space
      "TAS vm 01 backup 0123456789abcdef",                    // leading zero
      "TAS vm -1 backup 0123456789abcdef",                    // negative
      "TAS vm 18446744073709551616 backup 0123456789abcdef",  // overflows u64
      "TAS vm 1 Backup 0123456789abcdef",                     // sides are lower case
      "TAS vm/x 1 backup 0123456789abcdef",                   // '/' not allowed in a VM id
      "TAS vm 1 backup 0123456789abcdef\r",                   // control byte
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
  EXPECT_NE(parse_request("TAS vm x backup 0123456789abcdef")
                .error()
                .message.find("invalid generation 'x'"),
            std::string::npos);
  EXPECT_NE(parse_request("TAS vm 1 backup").error().message.find("<incarnation>"),
            std::string::npos);
  EXPECT_NE(parse_request("FOO").error().message.find("use TAS, QUERY or PING"), std::string::npos);
  EXPECT_NE(parse_request("TAS " + std::string(65, 'v') + " 1 backup 0123456789abcdef")
                .error()
                .message.find("1 to 64 characters"),
            std::string::npos);
}

TEST(ProtocolTest, RejectsOverlongLines) {
  const std::string id(64, 'v');
  std::string line = "TAS " + id + " 1 " + std::string(32, 's') + " " + std::string(32, 'f');
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
