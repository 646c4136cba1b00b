// Runs the fuzz body over a deterministic corpus, so every build (g++ included) exercises what
// the libFuzzer target does: the seeds, then seeded random edits of them that favour the
// protocol's own tokens (a text protocol breaks at its spaces, digits and keywords).
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "disk/protocol.h"
#include "fuzz_bodies.h"

namespace ftvm::disk {
namespace {

constexpr int kMutations = 30'000;

const char* const kTokens[] = {
    " ",   "  ",  "\n", "\r\n",    "0",    "01",   "9",    "-",
    "TAS", "WON", "vm", "primary", "\xff", "ERR ", "\x01", "18446744073709551616"};

std::vector<uint8_t> edit(std::vector<uint8_t> input, std::mt19937_64& random) {
  const int edits = 1 + static_cast<int>(random() % 3);
  for (int i = 0; i < edits; ++i) {
    const size_t at = 1 + random() % input.size();  // never the mode byte
    const std::string token = kTokens[random() % std::size(kTokens)];
    const int action = static_cast<int>(random() % 4);
    if (action == 0) {
      input.insert(input.begin() + static_cast<ptrdiff_t>(at), token.begin(), token.end());
    } else if (action == 1 && at < input.size()) {
      input.erase(input.begin() + static_cast<ptrdiff_t>(at));
    } else if (action == 2 && at < input.size()) {
      input[at] = static_cast<uint8_t>(random());
    } else {
      input.resize(at);
    }
  }
  return input;
}

TEST(FuzzCorpusTest, SeedsAreValid) {
  for (const auto& seed : protocol_fuzz_seeds()) {
    const std::string text(seed.begin() + 1, seed.end());
    if (seed[0] == 0) {
      EXPECT_TRUE(parse_request(text).ok()) << text;
    } else if (seed[0] == 1) {
      EXPECT_TRUE(parse_reply(text).ok()) << text;
    }
  }
}

TEST(FuzzCorpusTest, MutationsKeepTheProperties) {
  const auto seeds = protocol_fuzz_seeds();
  for (const auto& input : seeds) fuzz_protocol(input.data(), input.size());
  std::mt19937_64 random(0xa4b17e4);
  for (int i = 0; i < kMutations; ++i) {
    const auto input = edit(seeds[random() % seeds.size()], random);
    fuzz_protocol(input.data(), input.size());  // aborts on a broken property
  }
}

}  // namespace
}  // namespace ftvm::disk
