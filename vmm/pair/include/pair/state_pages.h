// Guest pages in state-transfer messages (logging_channel/messages.h, StatePages): a sender
// packs the pages of a round into messages of at most kMaxStatePagesPerMessage pages,
// copied out of guest RAM and compressed as one zstd frame; a receiver checks and writes them.
#pragma once

#include <zstd.h>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "logging_channel/messages.h"
#include "vmm/guest_memory.h"
#include "vmm/result.h"

namespace ftvm {

// Ascending page GPAs -> runs of consecutive pages.
std::vector<channel::PageRun> page_runs(std::span<const uint64_t> page_gpas);

// Keeps its compression context and buffer from one message to the next: a transfer sends
// hundreds of messages, and on a host where a page fault is dear (this PVM guest) a fresh
// 4 MiB buffer per message cost more than compressing it.
class PagePacker {
 public:
  explicit PagePacker(int zstd_level);

  // One message's worth of pages: `page_gpas` ascending, page-aligned, inside `memory`, and at
  // most kMaxStatePagesPerMessage of them. The guest may be writing them: they are copied once
  // and compressed from the copy, so a page torn by a write (sent again in the next round,
  // since the write dirtied it) is the only page that can arrive different.
  channel::StatePages pack(const GuestMemory& memory, uint32_t round,
                           std::span<const uint64_t> page_gpas);

 private:
  struct FreeContext {
    void operator()(ZSTD_CCtx* context) const { ZSTD_freeCCtx(context); }
  };
  std::unique_ptr<ZSTD_CCtx, FreeContext> context_;
  std::vector<uint8_t> in_;  // the pages, copied out of guest RAM
  std::vector<uint8_t> out_;
};

// Keeps its decompression context and scratch buffer from one message to the next.
class PageUnpacker {
 public:
  PageUnpacker();

  // Writes a message's pages into `memory`; returns how many. An error (pages outside
  // `memory`, a frame that does not decompress to exactly the runs' pages) writes nothing.
  Result<uint64_t> unpack(const GuestMemory& memory, const channel::StatePages& message);

 private:
  struct FreeContext {
    void operator()(ZSTD_DCtx* context) const { ZSTD_freeDCtx(context); }
  };
  std::unique_ptr<ZSTD_DCtx, FreeContext> context_;
  std::vector<uint8_t> scratch_;
};

// One-off forms of the two, for tests and the fuzzer.
channel::StatePages pack_pages(const GuestMemory& memory, uint32_t round,
                               std::span<const uint64_t> page_gpas, int zstd_level);
Result<uint64_t> unpack_pages(const GuestMemory& memory, const channel::StatePages& message);

}  // namespace ftvm
