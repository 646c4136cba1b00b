// Runs the frame fuzz body over a deterministic corpus, so every build (g++ included)
// exercises what the libFuzzer target does: the seeds, every truncation of them, every
// single-bit flip of the shorter ones and seeded random byte overwrites.
#include <gtest/gtest.h>

#include <random>

#include "fuzz_bodies.h"
#include "logging_channel/frame.h"

namespace ftvm::channel {
namespace {

constexpr size_t kBitFlipLimit = 400;  // bytes; longer seeds get random edits only
constexpr int kRandomEditsPerSeed = 2000;

void run(const std::vector<uint8_t>& input) {
  fuzz_frame(input.data(), input.size());  // aborts on a broken property
}

TEST(FrameFuzzCorpusTest, SeedsDecode) {
  const auto seeds = frame_fuzz_seeds();
  ASSERT_GE(seeds.size(), 6u);
  FrameDecoder decoder(FrameKey::none());
  decoder.feed(std::span(seeds[0]).subspan(1));
  size_t messages = 0;
  while (true) {
    auto step = decoder.next();
    ASSERT_TRUE(step.ok()) << step.error().message;
    if (!*step) break;
    ++messages;
  }
  EXPECT_GE(messages, 5u);
}

TEST(FrameFuzzCorpusTest, SeedsAndTheirTruncations) {
  for (const auto& seed : frame_fuzz_seeds()) {
    for (size_t length = 0; length <= seed.size(); ++length) {
      run({seed.begin(), seed.begin() + static_cast<std::ptrdiff_t>(length)});
    }
  }
}

TEST(FrameFuzzCorpusTest, SingleBitFlips) {
  for (const auto& seed : frame_fuzz_seeds()) {
    if (seed.size() > kBitFlipLimit) continue;
    for (size_t bit = 8; bit < seed.size() * 8; ++bit) {  // the mode byte stays
      auto flipped = seed;
      flipped[bit / 8] ^= static_cast<uint8_t>(1 << (bit % 8));
      run(flipped);
    }
  }
}

TEST(FrameFuzzCorpusTest, RandomOverwrites) {
  std::mt19937_64 random(7);
  for (const auto& seed : frame_fuzz_seeds()) {
    for (int i = 0; i < kRandomEditsPerSeed; ++i) {
      auto edited = seed;
      const int edits = 1 + static_cast<int>(random() % 4);
      for (int e = 0; e < edits && edited.size() > 1; ++e) {
        edited[1 + random() % (edited.size() - 1)] = static_cast<uint8_t>(random());
      }
      run(edited);
    }
  }
}

}  // namespace
}  // namespace ftvm::channel
