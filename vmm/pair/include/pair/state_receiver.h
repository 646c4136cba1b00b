// The receiving side of a live state transfer: a freshly built VM of the same configuration
// takes the pages of every round, then the vCPU and device state (state_sender.h), checking
// each message: a receiver never runs a guest it did not get whole.
#pragma once

#include <cstdint>
#include <vector>

#include "logging_channel/messages.h"
#include "pair/state_pages.h"
#include "vmm/result.h"
#include "vmm/vcpu_runner.h"
#include "vmm/vm.h"

namespace ftvm {

class StateReceiver {
 public:
  explicit StateReceiver(Vm& vm) : vm_(vm) {}

  // Applies the next message of the transfer. True once the state is loaded: the VM is then
  // the sender's at its exit count exit_count() and may run.
  Result<bool> apply(const channel::Message& message);

  bool complete() const { return complete_; }
  uint64_t exit_count() const { return resume_point_.exit_count; }
  // Where the copy's runner goes on from (VcpuRunner::resume_at), once complete.
  const VcpuRunner::ResumePoint& resume_point() const { return resume_point_; }
  uint32_t rounds() const { return rounds_; }
  uint64_t pages() const { return pages_; }
  // Console input that had not yet reached the sender's UART, now waiting in this VM's.
  size_t console_input_bytes() const { return console_input_bytes_; }
  // Where the joined pair's log and console output go on from (StateDone), once complete.
  uint64_t first_lsn() const { return first_lsn_; }
  uint64_t output_bytes() const { return output_bytes_; }
  // The latest clock values the sender's guest read (StateDone).
  uint64_t clock_monotonic_ns() const { return clock_monotonic_ns_; }
  int64_t clock_realtime_ns() const { return clock_realtime_ns_; }
  uint64_t console_input_logged() const { return console_input_logged_; }
  // The sender's disk requests not yet completed, as its disk got them: this side issues them
  // again if it goes live before their completions are logged (replay/logged_disk.h).
  const std::vector<BlockRequest>& unfinished_disk_requests() const {
    return unfinished_disk_requests_;
  }

 private:
  Result<void> apply_pages(const channel::StatePages& message);
  Result<void> apply_done(const channel::StateDone& message);

  Vm& vm_;
  PageUnpacker unpacker_;
  bool complete_ = false;
  bool any_pages_ = false;
  uint32_t round_ = 0;  // the latest round received
  uint32_t rounds_ = 0;
  uint64_t pages_ = 0;
  size_t console_input_bytes_ = 0;
  uint64_t first_lsn_ = 0;
  uint64_t output_bytes_ = 0;
  uint64_t clock_monotonic_ns_ = 0;
  int64_t clock_realtime_ns_ = 0;
  uint64_t console_input_logged_ = 0;
  std::vector<BlockRequest> unfinished_disk_requests_;
  VcpuRunner::ResumePoint resume_point_;
};

}  // namespace ftvm
