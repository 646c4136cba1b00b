// A replay's disk storage: requests are dropped, because every completion the guest saw is in
// the log and comes from there. A replay never touches a disk.
#pragma once

#include "vmm/devices/block_request.h"

namespace ftvm::replay {

class LoggedDisk final : public BlockBackend {
 public:
  void submit(BlockRequest) override {}
};

}  // namespace ftvm::replay
