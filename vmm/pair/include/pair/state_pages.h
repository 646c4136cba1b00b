// Guest pages in state-transfer messages (logging_channel/messages.h, StatePages): a sender
// packs the pages of a round into messages of at most kMaxStatePagesPerMessage pages, read
// straight from guest RAM and compressed as one zstd frame; a receiver checks and writes them.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "logging_channel/messages.h"
#include "vmm/guest_memory.h"
#include "vmm/result.h"

namespace ftvm {

// Ascending page GPAs -> runs of consecutive pages.
std::vector<channel::PageRun> page_runs(std::span<const uint64_t> page_gpas);

// One message's worth of pages: `page_gpas` ascending, page-aligned, inside `memory`, and
// at most kMaxStatePagesPerMessage of them. The pages are read while the guest may be writing
// them: a page torn by a write is sent again in the next round, since the write dirtied it.
channel::StatePages pack_pages(const GuestMemory& memory, uint32_t round,
                               std::span<const uint64_t> page_gpas, int zstd_level);

// Writes a message's pages into `memory`; returns how many. An error (pages outside `memory`,
// a frame that does not decompress to exactly the runs' pages) writes nothing.
Result<uint64_t> unpack_pages(const GuestMemory& memory, const channel::StatePages& message);

}  // namespace ftvm
