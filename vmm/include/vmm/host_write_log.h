// The pages of guest RAM the VMM itself wrote: a device's DMA (used rings, received frames,
// disk read data). Neither KVM's dirty log nor the software CPU's write hook sees a write that
// does not come from the guest, so a state transfer that reads only those would send such a
// page once and never again: the copy would have an old ring or an old frame.
//
// Thread-safe: marking is one atomic OR per page.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace ftvm {

class HostWriteLog {
 public:
  explicit HostWriteLog(uint64_t ram_bytes);

  void mark(uint64_t gpa, uint64_t length);
  // The guest-physical addresses of the pages marked since the last call, ascending.
  std::vector<uint64_t> take();

 private:
  std::unique_ptr<std::atomic<uint64_t>[]> words_;
  uint64_t word_count_ = 0;
};

}  // namespace ftvm
