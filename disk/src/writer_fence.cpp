#include "disk/writer_fence.h"

#include <fmt/format.h>

namespace ftvm::disk {

void WriterFence::record(const std::string& vm_id, const Winner& winner) {
  std::lock_guard lock(mutex_);
  winners_[vm_id] = winner;
}

std::optional<std::string> WriterFence::refusal(const WriterToken& token) const {
  std::lock_guard lock(mutex_);
  const auto found = winners_.find(token.vm_id);
  if (found == winners_.end()) return std::nullopt;
  const Winner& winner = found->second;
  if (winner.generation < token.generation) return std::nullopt;
  if (winner.generation == token.generation && winner.incarnation == token.incarnation) {
    return std::nullopt;
  }
  return fmt::format(
      "fenced: the arbiter decided generation {} of VM {} for {} (incarnation {}); this "
      "connection writes for generation {} as incarnation {}",
      winner.generation, token.vm_id, winner.side,
      winner.incarnation.empty() ? "unnamed" : winner.incarnation, token.generation,
      token.incarnation);
}

}  // namespace ftvm::disk
