#include "disk/arbiter_state.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <xxhash.h>

namespace ftvm::disk {
namespace {

const ArbiterState kState = {{"vm-a", {"backup", 3, "0123456789abcdef"}},
                             {"vm.b", {"primary", UINT64_MAX, ""}}};

TEST(ArbiterStateTest, RoundTrips) {
  const std::string text = encode_state(kState);
  EXPECT_TRUE(
      text.starts_with("ftvm-arbiter-state 2\nvm vm-a 3 backup 0123456789abcdef\nvm "
                       "vm.b 18446744073709551615 primary\n"))
      << text;
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

// A file written before wins were held by a process: its wins hold no incarnation.
TEST(ArbiterStateTest, ReadsVersion1Files) {
  const std::string body = "ftvm-arbiter-state 1\nvm web-1 4 backup\n";
  const std::string v1 =
      body + fmt::format("checksum {:016x}\n", XXH3_64bits(body.data(), body.size()));
  auto decoded = decode_state(v1);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(*decoded, (ArbiterState{{"web-1", {"backup", 4, ""}}}));
  const std::string with_incarnation = "ftvm-arbiter-state 1\nvm web-1 4 backup 0123456789abcdef\n";
  const std::string bad =
      with_incarnation + fmt::format("checksum {:016x}\n",
                                     XXH3_64bits(with_incarnation.data(), with_incarnation.size()));
  EXPECT_FALSE(decode_state(bad).ok()) << "version 1 had no incarnations";
}

}  // namespace
}  // namespace ftvm::disk
