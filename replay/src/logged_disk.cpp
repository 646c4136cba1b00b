#include "replay/logged_disk.h"

#include <utility>

namespace ftvm::replay {

void LoggedDisk::submit(BlockRequest request) {
  if (live_ != nullptr) {
    live_->submit(std::move(request));
    return;
  }
  const uint64_t id = request.id;
  pending_.insert_or_assign(id, std::move(request));
}

void LoggedDisk::completed(uint64_t id) {
  if (live_ != nullptr) {
    live_->completed(id);
    return;
  }
  pending_.erase(id);
}

size_t LoggedDisk::go_live(BlockBackend& disk) {
  live_ = &disk;
  const size_t reissued = pending_.size();
  for (auto& [id, request] : pending_) disk.submit(std::move(request));
  pending_.clear();
  return reissued;
}

}  // namespace ftvm::replay
