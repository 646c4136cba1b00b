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
    case Mode::kStandingBy:
      ++stats_.replayed;
      return;
    case Mode::kOpen:
      send_locked(std::move(frame));
      return;
    case Mode::kGated:
      frames_.add(std::move(frame));
      return;
  }
}

bool NetGate::tag(uint64_t required_lsn) {
  std::lock_guard lock(mutex_);
  if (!frames_.tag(required_lsn)) return false;
  release_locked();
  return true;
}

void NetGate::release_through(uint64_t acked_lsn) {
  std::lock_guard lock(mutex_);
  frames_.acknowledged(acked_lsn);
  release_locked();
}

void NetGate::release_locked() {
  if (mode_ != Mode::kGated || frames_.nothing_held() || !lease_holds_()) return;
  frames_.release_acknowledged(
      [this](std::vector<uint8_t> frame) { send_locked(std::move(frame)); });
}

void NetGate::protect_again(uint64_t first_lsn) {
  std::lock_guard lock(mutex_);
  if (mode_ != Mode::kOpen) return;
  mode_ = Mode::kGated;
  frames_.acknowledged(first_lsn);
}

void NetGate::open() {
  std::lock_guard lock(mutex_);
  if (mode_ != Mode::kGated && mode_ != Mode::kStandingBy) return;
  mode_ = Mode::kOpen;
  frames_.release_all([this](std::vector<uint8_t> frame) { send_locked(std::move(frame)); });
}

void NetGate::discard() {
  std::lock_guard lock(mutex_);
  mode_ = Mode::kDiscarding;
  stats_.discarded += frames_.clear();
}

void NetGate::stand_by() {
  std::lock_guard lock(mutex_);
  mode_ = Mode::kStandingBy;
}

NetGate::Stats NetGate::stats() const {
  std::lock_guard lock(mutex_);
  Stats s = stats_;
  s.held = frames_.size();
  return s;
}

}  // namespace ftvm::channel
