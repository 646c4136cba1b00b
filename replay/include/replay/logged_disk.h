// A replay's disk storage: requests are not issued, because every completion the guest saw is in
// the log and comes from there. A replay never touches a disk.
//
// A backup's replay is also the new primary in waiting: it keeps the requests the log shows
// submitted and not yet completed, and when it goes live (go_live) it issues those again to the
// real disk, in submission order, and every later one directly. Issuing a write again is safe:
// it carries the same data to the same place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>

#include "vmm/devices/block_request.h"

namespace ftvm::replay {

class LoggedDisk final : public BlockBackend {
 public:
  void submit(BlockRequest request) override;
  void completed(uint64_t id) override;

  // From now on requests go to `disk` (which must outlive this object), starting with the
  // pending ones. Returns how many were issued again.
  size_t go_live(BlockBackend& disk);

  size_t pending() const { return pending_.size(); }

 private:
  std::map<uint64_t, BlockRequest> pending_;  // by id: submission order
  BlockBackend* live_ = nullptr;
};

}  // namespace ftvm::replay
