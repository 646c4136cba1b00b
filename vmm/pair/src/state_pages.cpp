#include "pair/state_pages.h"

#include <fmt/format.h>
#include <zstd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace ftvm {
namespace {

constexpr uint64_t kPage = channel::kTransferPageBytes;

uint64_t pages_in(const std::vector<channel::PageRun>& runs) {
  uint64_t pages = 0;
  for (const channel::PageRun& run : runs) pages += run.pages;
  return pages;
}

[[noreturn]] void bug(const std::string& what) {
  std::fprintf(stderr, "ftvm: bug: packing guest pages: %s\n", what.c_str());
  std::abort();
}

}  // namespace

std::vector<channel::PageRun> page_runs(std::span<const uint64_t> page_gpas) {
  std::vector<channel::PageRun> runs;
  for (const uint64_t gpa : page_gpas) {
    if (!runs.empty() && runs.back().first_gpa + uint64_t{runs.back().pages} * kPage == gpa) {
      ++runs.back().pages;
    } else {
      runs.push_back({gpa, 1});
    }
  }
  return runs;
}

channel::StatePages pack_pages(const GuestMemory& memory, uint32_t round,
                               std::span<const uint64_t> page_gpas, int zstd_level) {
  if (page_gpas.size() > channel::kMaxStatePagesPerMessage) {
    bug(fmt::format("{} pages in one message", page_gpas.size()));
  }
  channel::StatePages message;
  message.round = round;
  message.runs = page_runs(page_gpas);
  // One contiguous source per run would avoid this copy only for runs; the copy is what makes
  // the bytes the compressor reads stable while the guest writes.
  std::vector<uint8_t> raw(page_gpas.size() * kPage);
  size_t at = 0;
  for (const channel::PageRun& run : message.runs) {
    const uint64_t bytes = uint64_t{run.pages} * kPage;
    auto span = memory.span(run.first_gpa, bytes);
    if (!span) bug(span.error().message);
    std::memcpy(raw.data() + at, span->data(), bytes);
    at += bytes;
  }
  message.compressed.resize(ZSTD_compressBound(raw.size()));
  const size_t n = ZSTD_compress(message.compressed.data(), message.compressed.size(), raw.data(),
                                 raw.size(), zstd_level);
  if (ZSTD_isError(n)) bug(std::string("zstd: ") + ZSTD_getErrorName(n));
  message.compressed.resize(n);
  return message;
}

Result<uint64_t> unpack_pages(const GuestMemory& memory, const channel::StatePages& message) {
  const uint64_t pages = pages_in(message.runs);
  for (const channel::PageRun& run : message.runs) {
    if (!memory.contains(run.first_gpa, uint64_t{run.pages} * kPage)) {
      return make_error(fmt::format(
          "state transfer: round {} sends {} pages at {:#x}, outside the {} MiB of guest RAM",
          message.round, run.pages, run.first_gpa, memory.size() >> 20));
    }
  }
  std::vector<uint8_t> raw(pages * kPage);
  const size_t n =
      ZSTD_decompress(raw.data(), raw.size(), message.compressed.data(), message.compressed.size());
  if (ZSTD_isError(n) || n != raw.size()) {
    const std::string got =
        ZSTD_isError(n) ? std::string(ZSTD_getErrorName(n)) : fmt::format("{} bytes", n);
    return make_error(fmt::format(
        "state transfer: round {}'s pages do not decompress to the {} pages its runs list ({})",
        message.round, pages, got));
  }
  size_t at = 0;
  for (const channel::PageRun& run : message.runs) {
    const uint64_t bytes = uint64_t{run.pages} * kPage;
    if (auto r = memory.write(run.first_gpa, {raw.data() + at, bytes}); !r) return r.error();
    at += bytes;
  }
  return pages;
}

}  // namespace ftvm
