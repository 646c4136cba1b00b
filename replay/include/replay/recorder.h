// The recording driver: applies host events like the live driver, and logs each with its
// position, so that a replayer can apply it at exactly the same guest instruction.
//
// Synchronous landmark: the event waited (epoch-style, up to --max-delay) for the guest's next
// exit and is applied right after exit E. Free to replay.
// Asynchronous landmark: no exit came in time and the vCPU was kicked at an arbitrary
// instruction. The point is logged as (E, RIP, fingerprint of GPRs and RFLAGS) and reached on
// replay either by a hardware-breakpoint search (kBreakpoint) or by loading the vCPU state and
// the pages dirtied since the previous checkpoint (kCheckpoint).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "replay/entry_sink.h"
#include "replay/output_digest.h"
#include "replay/trace_entry.h"
#include "vmm/event_queue.h"
#include "vmm/execution_driver.h"
#include "vmm/vm.h"

namespace ftvm::replay {

enum class AsyncMode {
  // Breakpoint where the hardware can see the point (code at CPL0, which this host's KVM
  // emulates and single-steps), checkpoint where it cannot (CPL3 code runs natively and is
  // invisible to guest debugging here) or where an injected interrupt is still queued.
  kAuto,
  kBreakpoint,
  kCheckpoint,
};

const char* async_mode_name(AsyncMode mode);
std::optional<AsyncMode> parse_async_mode(const std::string& name);

struct RecordOptions {
  AsyncMode async_mode = AsyncMode::kAuto;
  std::chrono::milliseconds digest_interval{500};  // guest-RAM digest period; 0 = never
};

struct LandmarkCounts {
  uint64_t synchronous = 0;
  uint64_t breakpoint = 0;
  uint64_t checkpoint = 0;
  uint64_t checkpoint_pages = 0;
  uint64_t checkpoint_bytes = 0;
  uint64_t memory_digests = 0;
};

class Recorder final : public ExecutionDriver {
 public:
  // `outputs` digests the guest's console output (see output_digest.h).
  Recorder(EventQueue& events, EntrySink& sink, Vm& vm, const DigestingConsole& outputs,
           RecordOptions options);

  DriverTurn between_exits(VcpuRunner& runner, const BetweenExits& at) override;
  std::optional<RunResult> idle(VcpuRunner& runner, const BetweenExits& at) override;

  // Logs the end of the recording (where it stopped, registers and RAM digests). Call once,
  // after VcpuRunner::run() returned.
  Result<void> finish(VcpuRunner& runner, const RunResult& result);

  const LandmarkCounts& landmarks() const { return landmarks_; }

  // How to get an InterruptWindow event to the vCPU within max_delay (LiveBackends::
  // push_deferred). Without it, a blocked interrupt waits for the guest's next suitable exit.
  void set_window_request(std::function<void()> request) { request_window_ = std::move(request); }

 private:
  Result<Position> async_position(VcpuRunner& runner, uint64_t exit_count);
  Result<void> log_checkpoint(VcpuRunner& runner, const Position& position);
  Result<void> log_memory_digest_if_due(uint64_t exit_count);
  Result<void> log_output_digest(uint64_t exit_count);
  Result<void> log_event(const Position& position, const Event& event);
  DriverTurn fail(const Error& error);
  void request_window_if_blocked(VcpuRunner& runner, const BetweenExits& at,
                                 const DriverTurn& turn);

  EventQueue& events_;
  EntrySink& sink_;
  Vm& vm_;
  const DigestingConsole& outputs_;
  RecordOptions options_;
  LandmarkCounts landmarks_;
  std::chrono::steady_clock::time_point next_digest_;
  bool warned_user_mode_breakpoint_ = false;
  std::function<void()> request_window_;
  bool window_requested_ = false;
  std::optional<uint64_t> window_exit_count_;  // where the last window was asked for
};

uint64_t memory_digest(const GuestMemory& memory);

}  // namespace ftvm::replay
