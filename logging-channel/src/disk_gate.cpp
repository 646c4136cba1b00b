#include "logging_channel/disk_gate.h"

#include <utility>

namespace ftvm::channel {
namespace {

bool is_write(BlockOp op) {
  return op != BlockOp::kRead;
}

// Byte ranges; a flush orders against everything, so it overlaps every read.
bool overlap(const BlockRequest& write, const BlockRequest& read) {
  if (write.op == BlockOp::kFlush) return true;
  return write.offset < read.offset + read.length && read.offset < write.offset + write.length;
}

}  // namespace

DiskGate::DiskGate(BlockBackend& disk, std::function<bool()> lease_holds)
    : disk_(disk), lease_holds_(std::move(lease_holds)) {}

bool DiskGate::overlaps_pending_write(const BlockRequest& read) const {
  if (writes_.any_of([&read](const BlockRequest& w) { return overlap(w, read); })) return true;
  for (const auto& [id, w] : in_flight_writes_) {
    if (overlap(w, read)) return true;
  }
  return false;
}

void DiskGate::issue_locked(BlockRequest request) {
  if (is_write(request.op)) {
    ++stats_.writes;
    in_flight_writes_.emplace(request.id, request);
  } else {
    ++stats_.reads;
    in_flight_reads_.emplace(request.id, request);
  }
  disk_.submit(std::move(request));
}

void DiskGate::submit(BlockRequest request) {
  std::lock_guard lock(mutex_);
  if (mode_ == Mode::kDiscarding) {
    ++stats_.discarded;
    return;
  }
  if (!is_write(request.op)) {
    if (mode_ == Mode::kGated && overlaps_pending_write(request)) {
      waiting_reads_.push_back(std::move(request));
      return;
    }
    issue_locked(std::move(request));
    return;
  }
  if (mode_ == Mode::kOpen) {
    issue_locked(std::move(request));
    return;
  }
  writes_.add(std::move(request));
}

bool DiskGate::tag(uint64_t required_lsn) {
  std::lock_guard lock(mutex_);
  if (!writes_.tag(required_lsn)) return false;
  release_locked();
  return true;
}

void DiskGate::release_through(uint64_t acked_lsn) {
  std::lock_guard lock(mutex_);
  writes_.acknowledged(acked_lsn);
  release_locked();
}

void DiskGate::release_locked() {
  if (mode_ != Mode::kGated || writes_.nothing_held() || !lease_holds_()) return;
  writes_.release_acknowledged([this](BlockRequest request) { issue_locked(std::move(request)); });
}

void DiskGate::completed(uint64_t id) {
  std::lock_guard lock(mutex_);
  if (in_flight_reads_.erase(id) != 0 || in_flight_writes_.erase(id) == 0) return;
  issue_ready_reads_locked();
}

std::vector<BlockRequest> DiskGate::unfinished() const {
  std::lock_guard lock(mutex_);
  std::map<uint64_t, BlockRequest> by_id(in_flight_writes_.begin(), in_flight_writes_.end());
  by_id.insert(in_flight_reads_.begin(), in_flight_reads_.end());
  for (const auto& read : waiting_reads_) by_id.emplace(read.id, read);
  writes_.for_each([&by_id](const BlockRequest& write) { by_id.emplace(write.id, write); });
  std::vector<BlockRequest> requests;
  requests.reserve(by_id.size());
  for (auto& [id, request] : by_id) requests.push_back(std::move(request));
  return requests;
}

void DiskGate::issue_ready_reads_locked() {
  std::vector<BlockRequest> still_waiting;
  for (auto& read : waiting_reads_) {
    if (overlaps_pending_write(read)) {
      still_waiting.push_back(std::move(read));
    } else {
      ++stats_.reads_waited;
      issue_locked(std::move(read));
    }
  }
  waiting_reads_ = std::move(still_waiting);
}

void DiskGate::protect_again(uint64_t first_lsn) {
  std::lock_guard lock(mutex_);
  if (mode_ != Mode::kOpen) return;
  mode_ = Mode::kGated;
  writes_.acknowledged(first_lsn);
}

void DiskGate::open() {
  std::lock_guard lock(mutex_);
  if (mode_ != Mode::kGated) return;
  mode_ = Mode::kOpen;
  writes_.release_all([this](BlockRequest request) { issue_locked(std::move(request)); });
  // Reads still wait for the writes in flight before them.
  issue_ready_reads_locked();
}

void DiskGate::discard() {
  std::lock_guard lock(mutex_);
  mode_ = Mode::kDiscarding;
  stats_.discarded += writes_.clear() + waiting_reads_.size();
  waiting_reads_.clear();
}

DiskGate::Stats DiskGate::stats() const {
  std::lock_guard lock(mutex_);
  Stats stats = stats_;
  stats.held = writes_.size();
  return stats;
}

}  // namespace ftvm::channel
