#include "pair/state_pages.h"

#include <fmt/format.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace ftvm {
namespace {

constexpr uint64_t kPage = channel::kTransferPageBytes;

bool is_zero_page(const uint8_t* page) {
  static const std::array<uint8_t, kPage> zero{};
  return std::memcmp(page, zero.data(), kPage) == 0;
}

uint64_t pages_in(const std::vector<channel::PageRun>& runs) {
  uint64_t pages = 0;
  for (const channel::PageRun& run : runs) pages += run.pages;
  return pages;
}

[[noreturn]] void bug(const std::string& what) {
  std::fprintf(stderr, "ftvm: bug: packing guest pages: %s\n", what.c_str());
  std::abort();
}

void check_zstd(size_t result) {
  if (ZSTD_isError(result)) bug(std::string("zstd: ") + ZSTD_getErrorName(result));
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

PagePacker::PagePacker(int zstd_level) : context_(ZSTD_createCCtx()) {
  if (!context_) bug("no memory for a compression context");
  check_zstd(ZSTD_CCtx_setParameter(context_.get(), ZSTD_c_compressionLevel, zstd_level));
}

channel::StatePages PagePacker::pack(const GuestMemory& memory, uint32_t round,
                                     std::span<const uint64_t> page_gpas) {
  if (page_gpas.size() > channel::kMaxStatePagesPerMessage) {
    bug(fmt::format("{} pages in one message", page_gpas.size()));
  }
  channel::StatePages message;
  message.round = round;
  message.runs = page_runs(page_gpas);
  const uint64_t total = page_gpas.size() * kPage;
  check_zstd(ZSTD_CCtx_reset(context_.get(), ZSTD_reset_session_only));
  // The frame then records its size, which the receiver checks before decompressing.
  check_zstd(ZSTD_CCtx_setPledgedSrcSize(context_.get(), total));
  if (out_.size() < ZSTD_compressBound(total)) out_.resize(ZSTD_compressBound(total));
  // The guest may be writing these pages: they are copied first, each byte read once, and
  // compressed from the copy. zstd reads its input more than once (a match is found against
  // bytes it had already emitted), so compressed in place, a page the guest rewrote mid-frame
  // could decode wrong in another page of the frame, one the guest never wrote (so never sent
  // again): the backup then held a page the primary never had.
  if (in_.size() < total) in_.resize(total);
  uint64_t at = 0;
  for (const channel::PageRun& run : message.runs) {
    auto span = memory.span(run.first_gpa, uint64_t{run.pages} * kPage);
    if (!span) bug(span.error().message);
    std::memcpy(in_.data() + at, span->data(), span->size());
    at += span->size();
  }
  ZSTD_outBuffer out{out_.data(), out_.size(), 0};
  ZSTD_inBuffer in{in_.data(), total, 0};
  for (;;) {
    const size_t left = ZSTD_compressStream2(context_.get(), &out, &in, ZSTD_e_end);
    check_zstd(left);
    if (left == 0) break;
  }
  message.compressed.assign(out_.data(), out_.data() + out.pos);
  return message;
}

PageUnpacker::PageUnpacker() : context_(ZSTD_createDCtx()) {
  if (!context_) bug("no memory for a decompression context");
}

Result<uint64_t> PageUnpacker::unpack(const GuestMemory& memory,
                                      const channel::StatePages& message) {
  const uint64_t pages = pages_in(message.runs);
  for (const channel::PageRun& run : message.runs) {
    if (!memory.contains(run.first_gpa, uint64_t{run.pages} * kPage)) {
      return make_error(fmt::format(
          "state transfer: round {} sends {} pages at {:#x}, outside the {} MiB of guest RAM",
          message.round, run.pages, run.first_gpa, memory.size() >> 20));
    }
  }
  if (scratch_.size() < pages * kPage) scratch_.resize(pages * kPage);
  const size_t n = ZSTD_decompressDCtx(context_.get(), scratch_.data(), pages * kPage,
                                       message.compressed.data(), message.compressed.size());
  if (ZSTD_isError(n) || n != pages * kPage) {
    const std::string got =
        ZSTD_isError(n) ? std::string(ZSTD_getErrorName(n)) : fmt::format("{} bytes", n);
    return make_error(fmt::format(
        "state transfer: round {}'s pages do not decompress to the {} pages its runs list ({})",
        message.round, pages, got));
  }
  const uint8_t* page = scratch_.data();
  for (const channel::PageRun& run : message.runs) {
    for (uint64_t gpa = run.first_gpa; gpa < run.first_gpa + uint64_t{run.pages} * kPage;
         gpa += kPage, page += kPage) {
      // A zero page over a zero page is left alone: a new backup's RAM is mostly never-touched
      // zeroes, which reading does not allocate and writing would.
      if (is_zero_page(page) && is_zero_page(memory.host_base() + gpa)) continue;
      if (auto r = memory.write(gpa, {page, kPage}); !r) return r.error();
    }
  }
  return pages;
}

channel::StatePages pack_pages(const GuestMemory& memory, uint32_t round,
                               std::span<const uint64_t> page_gpas, int zstd_level) {
  return PagePacker(zstd_level).pack(memory, round, page_gpas);
}

Result<uint64_t> unpack_pages(const GuestMemory& memory, const channel::StatePages& message) {
  return PageUnpacker().unpack(memory, message);
}

}  // namespace ftvm
