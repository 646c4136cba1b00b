#include "disk/arbiter_state.h"

#include <gtest/gtest.h>

namespace ftvm::disk {
namespace {

const ArbiterState kState = {{"vm-a", {"backup", 3}}, {"vm.b", {"primary", UINT64_MAX}}};

TEST(ArbiterStateTest, RoundTrips) {
  const std::string text = encode_state(kState);
  EXPECT_TRUE(text.starts_with("ftvm-arbiter-state 1\nvm vm-a 3 backup\n")) << text;
  auto decoded = decode_state(text);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(*decoded, kState);
  EXPECT_TRUE(decode_state(encode_state({})).ok());
}

TEST(ArbiterStateTest, DetectsDamage) {
  std::string flipped = encode_state(kState);
  flipped[flipped.find("backup")] = 'B';
  EXPECT_NE(decode_state(flipped).error().message.find("checksum mismatch"), std::string::npos);

  const std::string text = encode_state(kState);
  EXPECT_NE(decode_state(text.substr(0, text.size() - 5)).error().message.find("truncated"),
            std::string::npos);
  EXPECT_FALSE(decode_state(text.substr(0, text.find("checksum"))).ok());
  EXPECT_NE(decode_state("").error().message.find("not an ftvm arbiter state file"),
            std::string::npos);
}

}  // namespace
}  // namespace ftvm::disk
