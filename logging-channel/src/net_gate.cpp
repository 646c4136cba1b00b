#include "logging_channel/net_gate.h"

#include <utility>

namespace ftvm::channel {

NetGate::NetGate(NetSink& network, std::function<bool()> lease_holds)
    : network_(network), lease_holds_(std::move(lease_holds)) {}

void NetGate::send_locked(std::vector<uint8_t> frame) {
  ++stats_.sent;
  network_.transmit(std::move(frame));
}

void NetGate::transmit(std::vector<uint8_t> frame) {
  std::lock_guard lock(mutex_);
  switch (mode_) {
    case Mode::kDiscarding:
      ++stats_.discarded;
      return;
    case Mode::kOpen:
      send_locked(std::move(frame));
      return;
    case Mode::kGated:
      untagged_.push_back(std::move(frame));
      return;
  }
}

bool NetGate::tag(uint64_t required_lsn) {
  std::lock_guard lock(mutex_);
  if (untagged_.empty()) return false;
  for (auto& frame : untagged_) held_.push_back({std::move(frame), required_lsn});
  untagged_.clear();
  release_locked();
  return true;
}

void NetGate::release_through(uint64_t acked_lsn) {
  std::lock_guard lock(mutex_);
  acked_lsn_ = std::max(acked_lsn_, acked_lsn);
  release_locked();
}

void NetGate::release_locked() {
  if (mode_ != Mode::kGated || held_.empty() || !lease_holds_()) return;
  while (!held_.empty() && held_.front().required_lsn <= acked_lsn_) {
    send_locked(std::move(held_.front().frame));
    held_.pop_front();
  }
}

void NetGate::open() {
  std::lock_guard lock(mutex_);
  if (mode_ != Mode::kGated) return;
  mode_ = Mode::kOpen;
  while (!held_.empty()) {
    send_locked(std::move(held_.front().frame));
    held_.pop_front();
  }
  for (auto& frame : untagged_) send_locked(std::move(frame));
  untagged_.clear();
}

void NetGate::discard() {
  std::lock_guard lock(mutex_);
  mode_ = Mode::kDiscarding;
  stats_.discarded += untagged_.size() + held_.size();
  untagged_.clear();
  held_.clear();
}

NetGate::Stats NetGate::stats() const {
  std::lock_guard lock(mutex_);
  Stats s = stats_;
  s.held = held_.size() + untagged_.size();
  return s;
}

}  // namespace ftvm::channel
