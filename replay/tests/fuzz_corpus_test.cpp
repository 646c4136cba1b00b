// Runs the fuzz bodies over a deterministic corpus, so every build (g++ included) exercises
// what the libFuzzer targets do: valid seeds, then seeded random mutations of them.
#include <gtest/gtest.h>

#include <random>

#include "fuzz_bodies.h"
#include "replay/chunk.h"
#include "replay/trace_header.h"

namespace ftvm::replay {
namespace {

constexpr int kMutations = 20'000;

// Applies one to four random edits: bit flips, byte overwrites, truncations, insertions,
// deletions and duplications of a range.
std::vector<uint8_t> mutate(std::vector<uint8_t> bytes, std::mt19937_64& random) {
  const int edits = 1 + static_cast<int>(random() % 4);
  for (int i = 0; i < edits && !bytes.empty(); ++i) {
    const size_t at = random() % bytes.size();
    const size_t length = 1 + random() % std::min<size_t>(16, bytes.size() - at);
    const auto begin = bytes.begin() + static_cast<ptrdiff_t>(at);
    switch (random() % 6) {
      case 0:
        bytes[at] ^= static_cast<uint8_t>(1 << (random() % 8));
        break;
      case 1:
        bytes[at] = static_cast<uint8_t>(random());
        break;
      case 2:
        bytes.resize(at);
        break;
      case 3: {
        std::vector<uint8_t> inserted(length);
        for (auto& byte : inserted) byte = static_cast<uint8_t>(random());
        bytes.insert(begin, inserted.begin(), inserted.end());
        break;
      }
      case 4:
        bytes.erase(begin, begin + static_cast<ptrdiff_t>(length));
        break;
      default: {
        const std::vector<uint8_t> range(begin, begin + static_cast<ptrdiff_t>(length));
        bytes.insert(bytes.begin() + static_cast<ptrdiff_t>(random() % bytes.size()), range.begin(),
                     range.end());
      }
    }
  }
  return bytes;
}

void run_corpus(const std::vector<std::vector<uint8_t>>& seeds, int (*body)(const uint8_t*, size_t),
                uint64_t seed) {
  for (const auto& input : seeds) body(input.data(), input.size());
  std::mt19937_64 random(seed);
  for (int i = 0; i < kMutations; ++i) {
    const auto input = mutate(seeds[random() % seeds.size()], random);
    body(input.data(), input.size());  // aborts on a broken property
  }
}

TEST(FuzzCorpusTest, SeedsAreValid) {
  const auto chunk_seeds = chunk_fuzz_seeds();
  ASSERT_FALSE(chunk_seeds.empty());
  auto log = parse_log(std::span(chunk_seeds[0]).subspan(1));
  ASSERT_TRUE(log.ok()) << log.error().message;
  EXPECT_GT(log->entries.size(), 5u);
  const auto header_seeds = header_fuzz_seeds();
  ASSERT_FALSE(header_seeds.empty());
  auto header = decode_trace_header(std::span(header_seeds[0]).subspan(1));
  EXPECT_TRUE(header.ok()) << header.error().message;
}

TEST(FuzzCorpusTest, ChunkBodySurvivesMutations) {
  run_corpus(chunk_fuzz_seeds(), fuzz_chunk, 1);
}

TEST(FuzzCorpusTest, HeaderBodySurvivesMutations) {
  run_corpus(header_fuzz_seeds(), fuzz_header, 2);
}

}  // namespace
}  // namespace ftvm::replay
