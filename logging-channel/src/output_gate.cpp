#include "logging_channel/output_gate.h"

#include <algorithm>

namespace ftvm::channel {

OutputGate::OutputGate(ConsoleSink& downstream) : downstream_(downstream) {}

void OutputGate::hold(std::span<const uint8_t> bytes, uint64_t required_lsn) {
  if (bytes.empty()) return;
  std::lock_guard lock(mutex_);
  switch (mode_) {
    case Mode::kDiscarding:
      discarded_bytes_ += bytes.size();
      return;
    case Mode::kOpen:
      write_locked(bytes);
      return;
    case Mode::kGated:
      break;
  }
  // Merging keeps the queue short when the guest writes a byte at a time; it cannot change
  // when any byte leaves, because equal LSNs are released together.
  if (!held_.empty() && held_.back().required_lsn == required_lsn) {
    held_.back().bytes.insert(held_.back().bytes.end(), bytes.begin(), bytes.end());
  } else {
    held_.push_back(Held{{bytes.begin(), bytes.end()}, required_lsn, Clock::now()});
  }
  held_bytes_ += bytes.size();
  // Already acknowledged: the output need not wait for the next ack to leave.
  release_locked(Clock::now());
}

void OutputGate::release_through(uint64_t acked_lsn, Clock::time_point arrived_at) {
  std::lock_guard lock(mutex_);
  acked_lsn_ = std::max(acked_lsn_, acked_lsn);
  for (Held& output : held_) {
    if (output.required_lsn > acked_lsn_) break;
    if (output.acked_at == Clock::time_point{}) output.acked_at = arrived_at;
  }
  release_locked(Clock::now());
}

// Outputs not yet sent are the newest ones, so the walk goes from the back and stops at the
// first that was.
void OutputGate::sent_through(uint64_t sent_lsn, Clock::time_point sent_at) {
  std::lock_guard lock(mutex_);
  for (auto output = held_.rbegin(); output != held_.rend(); ++output) {
    if (output->sent_at != Clock::time_point{}) break;
    if (output->required_lsn <= sent_lsn) output->sent_at = sent_at;
  }
}

void OutputGate::set_lease(Clock::duration lease) {
  std::lock_guard lock(mutex_);
  lease_ = lease;
}

void OutputGate::renew_lease(Clock::time_point sent_at) {
  std::lock_guard lock(mutex_);
  lease_until_ = std::max(lease_until_, sent_at + lease_);
  release_locked(Clock::now());
}

bool OutputGate::lease_holds(Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  return lease_holds_locked(now);
}

bool OutputGate::lease_holds_locked(Clock::time_point now) const {
  return mode_ == Mode::kOpen || lease_ == Clock::duration::zero() || now < lease_until_;
}

void OutputGate::open() {
  std::lock_guard lock(mutex_);
  if (mode_ != Mode::kGated) return;
  acked_lsn_ = UINT64_MAX;
  lease_ = Clock::duration::zero();  // this side won the arbiter: no backup to outrun
  release_locked(Clock::now());
  mode_ = Mode::kOpen;
}

void OutputGate::protect_again(uint64_t first_lsn) {
  std::lock_guard lock(mutex_);
  if (mode_ != Mode::kOpen) return;
  mode_ = Mode::kGated;
  acked_lsn_ = first_lsn;
  lease_until_ = {};  // the lease starts with the new backup's first ack
}

void OutputGate::discard() {
  std::lock_guard lock(mutex_);
  mode_ = Mode::kDiscarding;
  discarded_bytes_ += held_bytes_;
  held_bytes_ = 0;
  held_.clear();
}

uint64_t OutputGate::held_bytes() const {
  std::lock_guard lock(mutex_);
  return held_bytes_;
}

uint64_t OutputGate::released_bytes() const {
  std::lock_guard lock(mutex_);
  return released_bytes_;
}

uint64_t OutputGate::discarded_bytes() const {
  std::lock_guard lock(mutex_);
  return discarded_bytes_;
}

LatencySummary OutputGate::hold_latency() const {
  std::lock_guard lock(mutex_);
  return latency_.summary();
}

LatencySummary OutputGate::hold_beyond_round_trip() const {
  std::lock_guard lock(mutex_);
  return beyond_round_trip_.summary();
}

// In hold order, stopping at the first output still waiting: the console is a byte stream.
// Everything an ack frees leaves in one write (a line the guest wrote a byte per exit is as
// many held outputs).
void OutputGate::release_locked(Clock::time_point now) {
  if (!lease_holds_locked(now)) return;
  std::vector<uint8_t> leaving;
  while (!held_.empty() && held_.front().required_lsn <= acked_lsn_) {
    Held& output = held_.front();
    held_bytes_ -= output.bytes.size();
    note_release_locked(output, now);
    if (leaving.empty()) {
      leaving = std::move(output.bytes);
    } else {
      leaving.insert(leaving.end(), output.bytes.begin(), output.bytes.end());
    }
    held_.pop_front();
  }
  if (!leaving.empty()) write_locked(leaving);
}

void OutputGate::note_release_locked(const Held& output, Clock::time_point now) {
  const Clock::duration hold = now - output.held_at;
  latency_.add(hold);
  const bool waited_for_an_ack =
      output.sent_at != Clock::time_point{} && output.acked_at > output.sent_at;
  const Clock::duration round_trip =
      waited_for_an_ack ? output.acked_at - output.sent_at : Clock::duration::zero();
  beyond_round_trip_.add(std::max(Clock::duration::zero(), hold - round_trip));
}

void OutputGate::write_locked(std::span<const uint8_t> bytes) {
  downstream_.write(bytes);
  released_bytes_ += bytes.size();
}

}  // namespace ftvm::channel
