// Signed arbiter lines: the MAC is the documented HMAC, checked in constant time, and a line
// signed for one purpose does not pass for another.
#include "disk/line_auth.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace ftvm::disk {
namespace {

const std::vector<uint8_t> kKey(20, 0x07);

std::string hmac_hex(const std::string& covered) {
  uint8_t mac[32];
  unsigned length = 0;
  HMAC(EVP_sha256(), kKey.data(), static_cast<int>(kKey.size()),
       reinterpret_cast<const uint8_t*>(covered.data()), covered.size(), mac, &length);
  std::string hex;
  for (uint8_t byte : mac) hex += fmt::format("{:02x}", byte);
  return hex;
}

TEST(LineAuthTest, ARequestIsFollowedByItsDocumentedHmac) {
  const std::string line = sign_request(kKey, "QUERY vm");
  EXPECT_EQ(line, "QUERY vm " + hmac_hex("ftvm arbiter request\nQUERY vm"));
  auto opened = open_request(kKey, line);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(*opened, "QUERY vm");
}

TEST(LineAuthTest, AReplyCoversTheRequestItAnswers) {
  const std::string line = sign_reply(kKey, "QUERY vm", "NONE");
  EXPECT_EQ(line, "NONE " + hmac_hex("ftvm arbiter reply\nQUERY vm\nNONE"));
  EXPECT_TRUE(open_reply(kKey, "QUERY vm", line).ok());
  EXPECT_FALSE(open_reply(kKey, "QUERY other", line).ok());
}

TEST(LineAuthTest, AlteredUnsignedOrCrossPurposeLinesAreRefused) {
  std::string line = sign_request(kKey, "TAS vm 1 backup 0123456789abcdef");
  line[4] = 'w';  // another VM
  EXPECT_NE(open_request(kKey, line).error().message.find("wrong signature"), std::string::npos);
  EXPECT_NE(
      open_request(kKey, "TAS vm 1 backup 0123456789abcdef").error().message.find("is not signed"),
      std::string::npos);
  // A signed reply is no signed request, even with the same words.
  EXPECT_FALSE(open_request(kKey, sign_reply(kKey, "", "PING")).ok());
  EXPECT_FALSE(open_request(std::vector<uint8_t>(20, 0x08), sign_request(kKey, "PING")).ok());
}

}  // namespace
}  // namespace ftvm::disk
