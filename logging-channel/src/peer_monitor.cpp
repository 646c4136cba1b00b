#include "logging_channel/peer_monitor.h"

#include <fmt/format.h>

namespace ftvm::channel {

const char* peer_state_name(PeerMonitor::State state) {
  switch (state) {
    case PeerMonitor::State::kAlive:
      return "alive";
    case PeerMonitor::State::kSuspected:
      return "suspected";
    case PeerMonitor::State::kDeclared:
      return "lost";
  }
  return "?";
}

void PeerMonitor::heard(Clock::time_point now) {
  if (state_ == State::kDeclared) return;  // a declared peer stays lost: the survivor acted
  heard_ = now;
  state_ = State::kAlive;
}

std::optional<PeerMonitor::State> PeerMonitor::check(Clock::time_point now) {
  if (state_ == State::kDeclared) return std::nullopt;
  const auto quiet = now - heard_;
  if (quiet >= timeouts_.declare) {
    state_ = State::kDeclared;
    reason_ = fmt::format("nothing heard from the peer for {} ms (declare timeout {} ms)",
                          std::chrono::duration_cast<std::chrono::milliseconds>(quiet).count(),
                          timeouts_.declare.count());
    return state_;
  }
  if (quiet >= timeouts_.suspect && state_ == State::kAlive) {
    state_ = State::kSuspected;
    return state_;
  }
  return std::nullopt;
}

void PeerMonitor::declare(std::string reason) {
  if (state_ == State::kDeclared) return;
  state_ = State::kDeclared;
  reason_ = std::move(reason);
}

PeerMonitor::Clock::time_point PeerMonitor::next_deadline() const {
  return heard_ + (state_ == State::kAlive ? timeouts_.suspect : timeouts_.declare);
}

}  // namespace ftvm::channel
