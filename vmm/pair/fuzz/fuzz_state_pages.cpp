#include "fuzz_state_pages.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

#include "logging_channel/message_codec.h"
#include "pair/state_pages.h"

namespace ftvm {
namespace {

constexpr uint64_t kGuestBytes = 1 << 20;
constexpr uint64_t kPage = channel::kTransferPageBytes;

[[noreturn]] void broken(const char* property) {
  std::fprintf(stderr, "fuzz_state_pages: broken property: %s\n", property);
  std::abort();
}

// The guest starts filled with 0xee, so that a page written with zeros shows.
bool page_untouched(const GuestMemory& memory, uint64_t gpa) {
  const uint8_t* page = memory.host_base() + gpa;
  for (uint64_t i = 0; i < kPage; ++i) {
    if (page[i] != 0xee) return false;
  }
  return true;
}

bool in_runs(const channel::StatePages& message, uint64_t gpa) {
  for (const channel::PageRun& run : message.runs) {
    if (gpa >= run.first_gpa && gpa - run.first_gpa < uint64_t{run.pages} * kPage) return true;
  }
  return false;
}

}  // namespace

int fuzz_state_pages(const uint8_t* data, size_t size) {
  auto decoded = channel::decode_payload(static_cast<uint8_t>(channel::MessageType::kStatePages),
                                         {data, size});
  if (!decoded) {
    if (decoded.error().message.empty()) broken("a refused payload says why");
    return 0;
  }
  const auto& message = std::get<channel::StatePages>(*decoded);
  auto memory = GuestMemory::allocate(kGuestBytes);
  if (!memory) return 0;
  std::memset(memory->host_base(), 0xee, kGuestBytes);
  auto written = unpack_pages(*memory, message);
  uint64_t runs_pages = 0;
  for (const channel::PageRun& run : message.runs) runs_pages += run.pages;
  if (written && *written != runs_pages) broken("an accepted message writes its runs' pages");
  for (uint64_t gpa = 0; gpa < kGuestBytes; gpa += kPage) {
    if (written && in_runs(message, gpa)) continue;
    if (!page_untouched(*memory, gpa)) broken("nothing outside the runs is written");
  }
  return 0;
}

std::vector<std::vector<uint8_t>> state_pages_fuzz_seeds() {
  auto memory = GuestMemory::allocate(kGuestBytes);
  if (!memory) return {};
  std::mt19937_64 random(7);
  for (uint64_t i = 0; i < 16 * kPage / 8; ++i) {  // pages 0-15 random, the rest zero
    const uint64_t value = random();
    std::memcpy(memory->host_base() + i * 8, &value, 8);
  }
  for (uint64_t i = 0; i < kPage; ++i)
    memory->host_base()[32 * kPage + i] = static_cast<uint8_t>(i);
  std::vector<std::vector<uint8_t>> seeds;
  const std::vector<std::vector<uint64_t>> page_sets = {
      {0x20000},
      {0, 0x1000, 0x2000, 0x21000},
      {0x5000, 0x30000, 0x31000, 0x32000, 0xff000},
  };
  for (const auto& pages : page_sets) {
    const auto payload = channel::encode_payload(pack_pages(*memory, 2, pages, 1));
    seeds.push_back(payload);
    auto flipped = payload;
    flipped[flipped.size() - 5] ^= 0x40;  // in the compressed frame
    seeds.push_back(flipped);
    seeds.emplace_back(payload.begin(), payload.end() - 9);  // cut short
  }
  return seeds;
}

}  // namespace ftvm
