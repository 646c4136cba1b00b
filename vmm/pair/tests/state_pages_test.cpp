#include "pair/state_pages.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <numeric>
#include <thread>

namespace ftvm {
namespace {

constexpr uint64_t kPage = channel::kTransferPageBytes;

GuestMemory memory_of(uint64_t bytes) {
  auto memory = GuestMemory::allocate(bytes);
  EXPECT_TRUE(memory.ok());
  return std::move(*memory);
}

void fill_page(const GuestMemory& memory, uint64_t gpa, uint8_t seed) {
  auto span = memory.span(gpa, kPage);
  ASSERT_TRUE(span.ok());
  for (size_t i = 0; i < kPage; ++i) (*span)[i] = static_cast<uint8_t>(seed + i * 7);
}

bool same_page(const GuestMemory& a, const GuestMemory& b, uint64_t gpa) {
  return std::equal(a.span(gpa, kPage)->begin(), a.span(gpa, kPage)->end(),
                    b.span(gpa, kPage)->begin());
}

TEST(StatePagesTest, ConsecutivePagesMakeOneRun) {
  const std::vector<uint64_t> pages = {0, 0x1000, 0x2000, 0x5000, 0x7000, 0x8000};
  EXPECT_EQ(page_runs(pages), (std::vector<channel::PageRun>{{0, 3}, {0x5000, 1}, {0x7000, 2}}));
  EXPECT_TRUE(page_runs({}).empty());
}

TEST(StatePagesTest, PackedPagesUnpackIntoTheSamePlaces) {
  auto from = memory_of(1 << 20);
  auto to = memory_of(1 << 20);
  const std::vector<uint64_t> pages = {0x3000, 0x4000, 0x9000, 0xff000};
  for (size_t i = 0; i < pages.size(); ++i) fill_page(from, pages[i], static_cast<uint8_t>(i));
  fill_page(from, 0x5000, 99);  // not sent: stays zero in `to`
  const auto message = pack_pages(from, 3, pages, 1);
  EXPECT_EQ(message.round, 3u);
  EXPECT_EQ(message.runs.size(), 3u);
  auto written = unpack_pages(to, message);
  ASSERT_TRUE(written.ok()) << written.error().message;
  EXPECT_EQ(*written, pages.size());
  for (uint64_t gpa : pages) EXPECT_TRUE(same_page(from, to, gpa)) << std::hex << gpa;
  EXPECT_FALSE(same_page(from, to, 0x5000));
}

// A round with nothing dirty is still one message, so that the receiver counts every round.
TEST(StatePagesTest, AMessageWithoutPagesRoundTrips) {
  auto memory = memory_of(1 << 20);
  const auto message = pack_pages(memory, 4, std::vector<uint64_t>{}, 1);
  EXPECT_TRUE(message.runs.empty());
  EXPECT_FALSE(message.compressed.empty()) << "an empty zstd frame still has a header";
  auto written = unpack_pages(memory, message);
  ASSERT_TRUE(written.ok()) << written.error().message;
  EXPECT_EQ(*written, 0u);
}

TEST(StatePagesTest, ZeroPagesCostAlmostNothing) {
  auto memory = memory_of(4 << 20);
  std::vector<uint64_t> pages(channel::kMaxStatePagesPerMessage);
  for (size_t i = 0; i < pages.size(); ++i) pages[i] = i * kPage;
  const auto message = pack_pages(memory, 0, pages, 1);
  EXPECT_LT(message.compressed.size(), 4096u) << "4 MiB of zeros";
}

TEST(StatePagesTest, PagesOutsideTheGuestAreRefusedAndNothingIsWritten) {
  auto from = memory_of(2 << 20);
  auto to = memory_of(1 << 20);
  fill_page(from, 0x1000, 1);
  fill_page(from, 0x100000, 2);
  const std::vector<uint64_t> pages = {0x1000, 0x100000};  // the second is past `to`'s end
  auto written = unpack_pages(to, pack_pages(from, 0, pages, 1));
  ASSERT_FALSE(written.ok());
  EXPECT_NE(written.error().message.find("outside the 1 MiB of guest RAM"), std::string::npos)
      << written.error().message;
  EXPECT_FALSE(same_page(from, to, 0x1000));
}

TEST(StatePagesTest, AFrameThatDoesNotMatchItsRunsIsRefused) {
  auto from = memory_of(1 << 20);
  auto to = memory_of(1 << 20);
  fill_page(from, 0x2000, 5);
  auto message = pack_pages(from, 1, std::vector<uint64_t>{0x2000, 0x3000}, 1);
  message.runs = {{0x2000, 3}};  // says three pages, the frame holds two
  auto short_frame = unpack_pages(to, message);
  ASSERT_FALSE(short_frame.ok());
  EXPECT_NE(short_frame.error().message.find("do not decompress to the 3 pages"), std::string::npos)
      << short_frame.error().message;
  message.runs = {{0x2000, 2}};
  message.compressed[message.compressed.size() / 2] ^= 0xff;
  message.compressed.resize(message.compressed.size() - 3);
  EXPECT_FALSE(unpack_pages(to, message).ok());
  EXPECT_FALSE(same_page(from, to, 0x2000));
}

// Pre-copy packs pages while the guest writes them. A page written during the packing may
// arrive torn (the write dirtied it: the next round sends it again), but no other page may
// arrive different: zstd, reading guest RAM in place, once encoded a clean zero page as a
// match against a page the guest rewrote mid-frame, which a receiver decoded to that page's
// old bytes, and the clean page was never sent again.
TEST(StatePagesTest, AGuestWritingOnePageWhileItIsPackedTearsOnlyThatPage) {
  auto from = memory_of(channel::kMaxStatePagesPerMessage * kPage);
  auto to = memory_of(channel::kMaxStatePagesPerMessage * kPage);
  std::vector<uint64_t> pages(channel::kMaxStatePagesPerMessage);
  for (size_t i = 0; i < pages.size(); ++i) pages[i] = i * kPage;
  for (uint64_t gpa = 600 * kPage; gpa < 700 * kPage; gpa += kPage) {
    fill_page(from, gpa, static_cast<uint8_t>(gpa >> 12));
  }
  constexpr uint64_t kWritten = 100 * kPage;  // the rest stays as it is, mostly zeros
  std::atomic<bool> stop{false};
  std::thread guest([&] {
    auto* words = reinterpret_cast<uint64_t*>(from.host_base() + kWritten);
    for (uint64_t n = 1; !stop.load(std::memory_order_relaxed); ++n) {
      const uint64_t value = (n & 1) ? 0x0101010101010101ull * (n >> 1 & 0xff) : 0;
      for (size_t i = 0; i < kPage / 8; ++i) {
        std::atomic_ref(words[i]).store(value, std::memory_order_relaxed);
      }
    }
  });
  PagePacker packer(1);
  PageUnpacker unpacker;
  size_t wrong = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  int packed = 0;
  for (; packed < 1000 && wrong == 0 && std::chrono::steady_clock::now() < until; ++packed) {
    auto written = unpacker.unpack(to, packer.pack(from, 0, pages));
    EXPECT_TRUE(written.ok()) << written.error().message;
    if (!written) break;
    for (uint64_t gpa : pages) {
      if (gpa != kWritten && !same_page(from, to, gpa)) ++wrong;
    }
  }
  stop.store(true);
  guest.join();
  EXPECT_EQ(wrong, 0u) << "pages the guest never wrote arrived different (message " << packed
                       << ")";
}

}  // namespace
}  // namespace ftvm
