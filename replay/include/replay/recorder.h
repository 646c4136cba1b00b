// The recording driver: applies host events like the live driver, and logs each with its
// position, so that a replayer can apply it at exactly the same guest instruction.
//
// Synchronous landmark: the event waited (epoch-style, up to --max-delay) for the guest's next
// exit and is applied right after exit E. Free to replay.
// Asynchronous landmark: no exit came in time and the vCPU was kicked at an arbitrary
// instruction. The point is logged as (E, RIP, fingerprint of GPRs and RFLAGS) and reached on
// replay either by a hardware-breakpoint search (kBreakpoint) or by loading the vCPU state and
// the pages dirtied since the previous checkpoint (kCheckpoint). In kAuto, a stop point in
// CPL0 code is first probed (landmark_choice.h): the input waits while a hardware breakpoint
// at RIP shows how soon RIP comes round, and lands at that second execution, as a breakpoint
// landmark if a search for it is estimated cheaper than a checkpoint load, else a checkpoint.
// On a vCPU that counts instructions (the software CPU) every asynchronous landmark is
// counted instead: the instructions retired since exit E, checked on replay by the registers
// digest; no search, no checkpoint, whatever the mode.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "replay/entry_sink.h"
#include "replay/landmark_choice.h"
#include "replay/memory_discriminator.h"
#include "replay/output_digest.h"
#include "replay/trace_entry.h"
#include "vmm/breakpoint_reach.h"
#include "vmm/event_queue.h"
#include "vmm/execution_driver.h"
#include "vmm/vm.h"

namespace ftvm::replay {

enum class AsyncMode {
  // Checkpoint where the hardware cannot see the point (CPL3 code runs natively and is
  // invisible to guest debugging here) or where an injected interrupt is still queued; at
  // CPL0, a probe decides (see above).
  kAuto,
  kBreakpoint,
  kCheckpoint,
};

const char* async_mode_name(AsyncMode mode);
std::optional<AsyncMode> parse_async_mode(const std::string& name);

struct RecordOptions {
  AsyncMode async_mode = AsyncMode::kAuto;
  std::chrono::milliseconds digest_interval{500};  // guest-RAM digest period; 0 = never
  // How long a probe waits for RIP to come round (probe_budget_for(--max-delay)).
  std::chrono::nanoseconds probe_budget = probe_budget_for(std::chrono::milliseconds(1));
  // Where this host reports hardware breakpoints in guest code (the host probe, measured per
  // privilege level: vmm/breakpoint_reach.h). Where it does not, --async auto checkpoints at once
  // instead of probing (a probe could never see RIP come round, and a breakpoint landmark could
  // not be replayed), and --async breakpoint does not probe.
  BreakpointReach breakpoints{true, false, false};
  // How short a probe's period can be at each privilege level (the host probe's speed): what a
  // period below the timing's resolution counts as.
  ShortestLoop shortest_loop;
  // The replayer's bounds on a search: --async breakpoint does not place a landmark its probe
  // estimates beyond them.
  SearchLimits search_limits;
  // The vCPU's runner delivers an interrupt the guest cannot take at once at the
  // interrupt-window exit, which this host takes exactly (vmm/exact_interrupt_window.h): a
  // deterministic exit, so the recorder asks for no InterruptWindow events.
  bool interrupt_window = false;
};

struct LandmarkCounts {
  uint64_t synchronous = 0;
  uint64_t breakpoint = 0;
  uint64_t checkpoint = 0;
  uint64_t counted = 0;  // on a vCPU that counts instructions (the software CPU)
  uint64_t checkpoint_pages = 0;
  uint64_t checkpoint_bytes = 0;
  uint64_t memory_digests = 0;
  // Breakpoint landmarks that carry a digest of the memory ahead (memory_discriminator.h), and
  // the time spent on such digests (at landmarks and at probes).
  uint64_t breakpoint_memory = 0;
  double memory_discriminator_us = 0;
  uint64_t memory_discriminators = 0;  // digests computed
  // Landmarks --async breakpoint placed otherwise because its probe estimated the search out
  // of the replayer's reach or saw the registers repeat: checkpoints on KVM, counted on the
  // software CPU (they are in those counts too).
  uint64_t breakpoint_fallbacks = 0;
  // The probes (--async auto, and --async breakpoint where breakpoints are reported): started,
  // and how each ended.
  uint64_t probes = 0;
  uint64_t probe_breakpoint = 0;        // RIP came round; a search was estimated cheaper (or,
                                        // forced, within reach)
  uint64_t probe_checkpoint = 0;        // RIP came round; a checkpoint was (hot code, or the same
                                        // registers at both executions)
  uint64_t probe_same_fingerprint = 0;  // of those, for the same registers and memory ahead
  uint64_t probe_told_by_memory = 0;    // the same registers, but the memory ahead differed
  uint64_t probe_expired = 0;           // RIP did not come round within the budget: checkpoint
                                        // (forced: a breakpoint where the guest is then)
  uint64_t probe_overtaken = 0;         // a deterministic exit came first: a synchronous landmark
  double probe_estimated_hits = 0;      // summed over the breakpoint verdicts

  // The hits a search was estimated to need, per breakpoint verdict (0 without one).
  double mean_estimated_hits() const {
    return probe_breakpoint > 0 ? probe_estimated_hits / static_cast<double>(probe_breakpoint)
                                : 0.0;
  }
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
  // How to kick the vCPU when a probe's budget has passed (LiveBackends::kick_after; a zero
  // delay cancels). Without it, --async auto does not probe and checkpoints instead.
  void set_probe_kick(std::function<void(std::chrono::nanoseconds)> kick_after) {
    probe_kick_ = std::move(kick_after);
  }
  // The replay costs to weigh a probe's verdict with (a primary's are its backup's reports).
  // Without it, kDefaultReplayCosts.
  void set_cost_model(const ReplayCostModel* costs) { costs_ = costs; }

 private:
  // The position of the inputs waiting at an asynchronous point, or nullopt while a probe
  // makes them wait longer.
  Result<std::optional<Position>> async_position(VcpuRunner& runner, uint64_t exit_count);
  Result<bool> should_probe(VcpuRunner& runner, bool user_mode);
  ReplayCosts replay_costs() const;
  Result<void> start_probe(VcpuRunner& runner, const kvm_regs& regs, bool user_mode);
  Result<Position> finish_probe(VcpuRunner& runner, uint64_t exit_count);
  Result<void> abandon_probe(VcpuRunner& runner);
  // `memory` is the memory ahead at `regs` where it was already digested (a probe that saw
  // the registers repeat), so that it is not digested twice.
  Result<Position> landmark_at(VcpuRunner& runner, const kvm_regs& regs, uint64_t exit_count,
                               LandmarkKind kind, std::optional<uint32_t> memory = std::nullopt);
  // The instructions retired since exit E, where the vCPU counts them.
  Result<Position> counted_landmark(VcpuRunner& runner, uint64_t exit_count, uint64_t retired);
  // Where --async breakpoint's probe rules a breakpoint out: what else this backend offers.
  Result<Position> fallback_landmark(VcpuRunner& runner, const kvm_regs& regs, uint64_t exit_count);
  Result<Position> probe_verdict(VcpuRunner& runner, const kvm_regs& regs, uint64_t exit_count,
                                 const ProbeObservation& observation,
                                 std::optional<uint32_t> memory);
  Result<void> log_checkpoint(VcpuRunner& runner, const Position& position);
  Result<uint32_t> memory_ahead(VcpuRunner& runner, const kvm_regs& regs);
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
  std::function<void(std::chrono::nanoseconds)> probe_kick_;
  const ReplayCostModel* costs_ = nullptr;
  MemoryDiscriminator discriminator_;
  struct Probe {
    uint64_t rip = 0;
    uint64_t fingerprint = 0;
    uint32_t memory = 0;
    std::chrono::steady_clock::time_point kicked;  // when KVM_RUN returned at RIP
    // Where the vCPU counts instructions (the software CPU): how many it had retired there.
    std::optional<uint64_t> kicked_instructions;
    // First the instruction at RIP is stepped over: a breakpoint armed at the current RIP
    // would fire at once, before it ran.
    bool stepping = true;
    bool user_mode = false;
    // The step's KVM_RUN ran one instruction: what the breakpoint's own entry and exit add to
    // the time RIP takes to come round.
    std::chrono::steady_clock::duration entry_and_exit{};
  };
  std::optional<Probe> probe_;
  // What the probe saw when RIP came round: in the guest's instructions where the vCPU counts
  // them, else in host time.
  Result<ProbeObservation> observe_probe(VcpuRunner& runner, const Probe& probe, bool same);
  std::chrono::steady_clock::time_point last_exit_time_ = std::chrono::steady_clock::now();
};

uint64_t memory_digest(const GuestMemory& memory);

}  // namespace ftvm::replay
