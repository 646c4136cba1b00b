// A replay's disk storage: requests are counted and dropped, because every completion the guest
// saw is in the log and comes from there. A replay never touches a disk.
#pragma once

#include <cstdint>

#include "vmm/devices/block_request.h"

namespace ftvm::replay {

class LoggedDisk final : public BlockBackend {
 public:
  void submit(BlockRequest) override { ++requests_; }
  uint64_t requests() const { return requests_; }

 private:
  uint64_t requests_ = 0;
};

}  // namespace ftvm::replay
