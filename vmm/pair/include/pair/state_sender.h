// The sending side of a live state transfer (docs/failover.md, "Re-protection"): guest RAM is
// sent while the guest runs, in pre-copy rounds driven by the dirty log, until what is left
// can be sent with the guest stopped within the target pause (precopy_policy.h); then the last
// pages and the vCPU and device state. From that point a backup holds the same machine.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include "logging_channel/messages.h"
#include "pair/precopy_policy.h"
#include "pair/transfer_port.h"
#include "vmm/guest_memory.h"
#include "vmm/result.h"

namespace ftvm {

struct StateSenderOptions {
  PrecopyOptions precopy;
  int zstd_level = 1;  // fast: a round's compression competes with the guest for the CPU
  // Runs with the guest stopped, before the StateDone leaves: where the caller completes it
  // (the LSN the joined pair's log goes on from, the output produced so far) and starts what
  // must begin at exactly that point (the new backup's log). An error ends the transfer.
  std::function<Result<void>(channel::StateDone& done)> before_done;
};

struct TransferReport {
  std::vector<PrecopyRound> rounds;  // the pre-copy rounds, then the stopped one
  uint64_t guest_pages = 0;
  uint64_t pages_sent = 0;
  uint64_t payload_bytes = 0;          // message payloads: compressed pages and the machine state
  std::chrono::nanoseconds paused{0};  // the guest stopped: last pages, state, while_stopped
  std::chrono::nanoseconds took{0};
  double max_throttle = 0;
  uint64_t exit_count = 0;  // where the guest stopped
};

// Sends one message to the receiver; an error ends the transfer.
using SendStateMessage = std::function<Result<void>(const channel::Message&)>;

// Transfers the running guest's state through `send` and resumes the guest. `while_stopped`
// runs after the last message, with the guest still stopped at `exit_count`: where the caller
// starts what must begin at exactly that point (the new backup's log). An error resumes the
// guest and unthrottles it; the receiver's copy is then unusable.
Result<TransferReport> send_state(
    const GuestMemory& memory, TransferPort& port, const SendStateMessage& send,
    const StateSenderOptions& options,
    const std::function<Result<void>(uint64_t exit_count)>& while_stopped = {});

}  // namespace ftvm
