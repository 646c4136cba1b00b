#include <gtest/gtest.h>

#include "logging_channel/endpoint_policy.h"
#include "logging_channel/tcp.h"

namespace ftvm::channel {
namespace {

Endpoint parsed(const std::string& text) {
  auto endpoint = Endpoint::parse(text);
  EXPECT_TRUE(endpoint.ok()) << text << ": " << endpoint.error().message;
  return endpoint.ok() ? *endpoint : Endpoint{};
}

TEST(EndpointTest, ParsesTheThreeForms) {
  const Endpoint v4 = parsed("127.0.0.1:7300");
  EXPECT_EQ(v4.host, "127.0.0.1");
  EXPECT_EQ(v4.port, 7300);
  const Endpoint v6 = parsed("[::1]:7300");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 7300);
  const Endpoint name = parsed("localhost:0");
  EXPECT_EQ(name.host, "localhost");
  EXPECT_EQ(name.port, 0);
  EXPECT_EQ(parsed("backup.example:65535").port, 65535);
}

TEST(EndpointTest, RejectsMalformedText) {
  for (const char* text : {"", "127.0.0.1", "127.0.0.1:", ":7300", "host:65536", "host:-1",
                           "host:72a", "::1:7300", "[::1]7300", "[::1", "[]:7300", "host:+7300"}) {
    auto endpoint = Endpoint::parse(text);
    ASSERT_FALSE(endpoint.ok()) << "accepted '" << text << "'";
    EXPECT_NE(endpoint.error().message.find("HOST:PORT"), std::string::npos);
  }
}

TEST(EndpointTest, ExplainsMissingBrackets) {
  auto endpoint = Endpoint::parse("::1:7300");
  ASSERT_FALSE(endpoint.ok());
  EXPECT_NE(endpoint.error().message.find("needs brackets"), std::string::npos);
}

TEST(EndpointTest, LoopbackDetection) {
  for (const char* text :
       {"127.0.0.1:1", "127.1.2.3:1", "[::1]:1", "localhost:1", "[::ffff:127.0.0.1]:1"}) {
    EXPECT_TRUE(parsed(text).is_loopback()) << text;
  }
  for (const char* text : {"10.0.0.1:1", "0.0.0.0:1", "[::]:1", "[fe80::1]:1", "example.com:1",
                           "128.0.0.1:1", "[::ffff:10.0.0.1]:1"}) {
    EXPECT_FALSE(parsed(text).is_loopback()) << text;
  }
}

TEST(EndpointTest, ToStringRoundTrips) {
  for (const char* text : {"127.0.0.1:7300", "[::1]:7300", "localhost:0", "[fe80::1]:9"}) {
    EXPECT_EQ(parsed(text).to_string(), text);
  }
}

TEST(EndpointPolicyTest, UnkeyedChannelsStayOnLoopback) {
  const auto key = FrameKey::from_bytes(std::vector<uint8_t>(32, 1)).value();
  const Endpoint remote{"10.0.0.2", 7300};
  const Endpoint local{"127.0.0.1", 7300};
  EXPECT_TRUE(check_endpoint_allowed(local, FrameKey::none(), "--listen").ok());
  EXPECT_TRUE(check_endpoint_allowed(remote, key, "--listen").ok());
  auto refused = check_endpoint_allowed(remote, FrameKey::none(), "--peer");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("--peer 10.0.0.2:7300 is not a loopback address"),
            std::string::npos)
      << refused.error().message;
}

}  // namespace
}  // namespace ftvm::channel
