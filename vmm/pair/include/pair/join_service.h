// Backups joining a guest that runs for the world unprotected (docs/failover.md,
// "Re-protection"): accepted on the side's channel listener while the guest runs, one at a
// time. A joiner gets the hello with `state_follows` and the next generation, the running
// guest's state on the logging channel, and, from the handover on (with the guest stopped),
// the log; the guest's output then waits for its acks again.
//
// The same service serves a primary that lost its backup and a backup that went live.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "logging_channel/messages.h"
#include "logging_channel/primary_link.h"
#include "pair/primary_driver.h"
#include "pair/protection.h"
#include "pair/transfer_port.h"
#include "replay/output_digest.h"
#include "replay/trace_entry.h"
#include "vmm/guest_memory.h"

namespace ftvm {

// The parts of the running side that a join reads or switches over to the new backup.
struct JoinParts {
  channel::FrameKey key;
  channel::PrimaryLinkOptions link_options;
  // The machine and its image, as this guest's first backup was told (generation aside).
  channel::Hello hello;
  const GuestMemory& memory;
  TransferPort& port;
  replay::DigestingConsole& digesting;
  PendingOutput& pending;
  // The latest value the guest read of a clock: a joiner's clocks go on from there.
  std::function<int64_t(replay::ClockKind)> last_clock;
  std::chrono::milliseconds wait_ready;
};

class JoinService {
 public:
  // Accepts on `listener` (which must outlive the service) until stop().
  JoinService(int listener, Protection& protection, JoinParts parts);
  ~JoinService();
  JoinService(const JoinService&) = delete;
  JoinService& operator=(const JoinService&) = delete;

  // The port refuses from now on, so that a join under way ends; then the thread is joined.
  void stop();

 private:
  void accept_loop(int listener);
  void join(UniqueFd socket);
  Result<void> hand_over(channel::PrimaryLink& link, uint64_t generation, channel::StateDone& done);
  void lose_joined(channel::PrimaryLink& link, const std::string& reason);
  void forget_last_link() { links_.pop_back(); }

  Protection& protection_;
  JoinParts parts_;
  // Every joined backup's link, kept to the end: the log may point at any of them.
  std::vector<std::unique_ptr<channel::PrimaryLink>> links_;
  std::atomic<bool> quit_{false};
  std::thread thread_;
};

}  // namespace ftvm
