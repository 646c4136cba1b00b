// Failure detection on the logging channel, with the two timeouts of semi-passive replication:
// an aggressive one after which the peer is *suspected* (reported, nothing else happens) and a
// conservative one after which it is *declared* lost and the survivor acts. Silence is measured
// from the last message heard; a connection that closed is declared at once.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace ftvm::channel {

struct LinkTimeouts {
  std::chrono::milliseconds heartbeat{10};  // a side that sent nothing for this long sends one
  std::chrono::milliseconds suspect{50};
  std::chrono::milliseconds declare{200};
};

// How long after sending a frame the primary may release output on its ack (OutputGate::
// set_lease): three quarters of the declare timeout, which the backup waits after the last
// frame it received before it may go live. The quarter left covers the time between the
// lease check and the write downstream, and clock rate differences (docs/failover.md).
inline std::chrono::milliseconds lease_for(const LinkTimeouts& timeouts) {
  return timeouts.declare * 3 / 4;
}

class PeerMonitor {
 public:
  using Clock = std::chrono::steady_clock;
  enum class State { kAlive, kSuspected, kDeclared };

  PeerMonitor(LinkTimeouts timeouts, Clock::time_point now) : timeouts_(timeouts), heard_(now) {}

  void heard(Clock::time_point now);
  // The state after the silence up to `now`, if that changed it.
  std::optional<State> check(Clock::time_point now);
  // Declares the peer lost at once (its connection closed, or it spoke nonsense).
  void declare(std::string reason);

  State state() const { return state_; }
  const std::string& reason() const { return reason_; }
  // When check() could next change the state.
  Clock::time_point next_deadline() const;
  Clock::duration silence(Clock::time_point now) const { return now - heard_; }

 private:
  LinkTimeouts timeouts_;
  Clock::time_point heard_;
  State state_ = State::kAlive;
  std::string reason_;
};

const char* peer_state_name(PeerMonitor::State state);

}  // namespace ftvm::channel
