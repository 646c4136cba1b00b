#include "replay/recorder.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>

#include "replay/fingerprint.h"
#include "vmm/guest_debug.h"
#include "vmm/vcpu_runner.h"
#include "vmm/vcpu_state.h"

namespace ftvm::replay {
namespace {

constexpr auto kHaltPollInterval = std::chrono::milliseconds(100);
// Synchronous landmarks are cheap to log (a few bytes); a registers digest on every one would
// triple that. Every 16th carries one; asynchronous ones carry their own fingerprint.
constexpr uint64_t kRegistersDigestEvery = 16;
// A memory digest waits at least this many times its own cost after it (see
// log_memory_digest_if_due).
constexpr int kDigestCostFactor = 9;

int current_privilege_level(const kvm_sregs& sregs) {
  return sregs.cs.selector & 3;
}

// An interrupt or exception injected at exit E but not yet taken: the guest takes it before
// it reaches RIP again, so neither a breakpoint search nor a probe can find the point.
Result<bool> injection_pending(const Vcpu& vcpu) {
  auto events = vcpu.get_events();
  if (!events) return events.error();
  return events->interrupt.injected != 0 || events->exception.injected != 0;
}

Result<std::optional<Position>> decided(Result<Position> position) {
  if (!position) return position.error();
  return std::optional<Position>(*position);
}

}  // namespace

const char* async_mode_name(AsyncMode mode) {
  switch (mode) {
    case AsyncMode::kAuto:
      return "auto";
    case AsyncMode::kBreakpoint:
      return "breakpoint";
    case AsyncMode::kCheckpoint:
      return "checkpoint";
  }
  return "?";
}

std::optional<AsyncMode> parse_async_mode(const std::string& name) {
  for (AsyncMode mode : {AsyncMode::kAuto, AsyncMode::kBreakpoint, AsyncMode::kCheckpoint}) {
    if (name == async_mode_name(mode)) return mode;
  }
  return std::nullopt;
}

uint64_t memory_digest(const GuestMemory& memory) {
  return XXH3_64bits(memory.host_base(), memory.size());
}

Recorder::Recorder(EventQueue& events, EntrySink& sink, Vm& vm, const DigestingConsole& outputs,
                   RecordOptions options)
    : events_(events),
      sink_(sink),
      vm_(vm),
      outputs_(outputs),
      options_(options),
      next_digest_(std::chrono::steady_clock::now()) {}

DriverTurn Recorder::fail(const Error& error) {
  DriverTurn turn;
  turn.stop = RunResult{RunResult::Reason::kFault, 0, "recording failed: " + error.message};
  return turn;
}

Result<void> Recorder::log_memory_digest_if_due(uint64_t exit_count) {
  if (options_.digest_interval.count() == 0) return {};
  const auto started = std::chrono::steady_clock::now();
  if (started < next_digest_) return {};
  ++landmarks_.memory_digests;
  if (auto r = log_output_digest(exit_count); !r) return r;
  auto logged = sink_.append(MemoryDigestEntry{exit_count, memory_digest(vm_.memory())});
  // On a slow host a digest can take longer than its period; then a digest at every exit
  // would leave the guest no time to run. Paced by its own cost too, digesting takes at most
  // about a tenth of the vCPU thread.
  const auto finished = std::chrono::steady_clock::now();
  next_digest_ = finished + std::max<std::chrono::steady_clock::duration>(
                                options_.digest_interval, kDigestCostFactor * (finished - started));
  return logged;
}

Result<void> Recorder::log_output_digest(uint64_t exit_count) {
  return sink_.append(OutputDigestEntry{exit_count, outputs_.bytes(), outputs_.digest()});
}

Result<void> Recorder::log_checkpoint(VcpuRunner& runner, const Position& position) {
  auto pages = vm_.dirty_pages();
  if (!pages) return pages.error();
  const size_t page_count = pages->size();
  auto state = capture_state(runner.vcpu(), runner.platform(), vm_.memory(), std::move(*pages));
  if (!state) return state.error();
  CheckpointEntry entry{position, encode_state(*state)};
  ++landmarks_.checkpoint;
  landmarks_.checkpoint_pages += page_count;
  landmarks_.checkpoint_bytes += entry.state.size();
  return sink_.append(entry);
}

Result<uint32_t> Recorder::memory_ahead(VcpuRunner& runner, const kvm_regs& regs) {
  const auto started = std::chrono::steady_clock::now();
  auto memory = discriminator_.digest(runner.vcpu(), vm_.memory(), regs);
  landmarks_.memory_discriminator_us +=
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - started).count();
  ++landmarks_.memory_discriminators;
  return memory;
}

Result<Position> Recorder::landmark_at(VcpuRunner& runner, const kvm_regs& regs,
                                       uint64_t exit_count, LandmarkKind kind,
                                       std::optional<uint32_t> memory) {
  Position position{exit_count, kind, AsyncPoint{regs.rip, register_fingerprint(regs)}};
  if (kind == LandmarkKind::kBreakpoint) {
    // Only a checkpoint reproduces an injection still queued.
    auto pending = injection_pending(runner.vcpu());
    if (!pending) return pending.error();
    if (*pending) position.kind = LandmarkKind::kCheckpoint;
  }
  if (position.kind == LandmarkKind::kCheckpoint) {
    if (auto r = log_checkpoint(runner, position); !r) return r.error();
    return position;
  }
  ++landmarks_.breakpoint;
  if (!memory) {
    auto digested = memory_ahead(runner, regs);
    if (!digested) return digested.error();
    memory = *digested;
  }
  position.point.memory = *memory;
  if (*memory != 0) ++landmarks_.breakpoint_memory;
  return position;
}

// Where this host reports breakpoints: auto probes stop points where a breakpoint could still
// win, --async breakpoint every one, so as not to record one out of reach.
Result<bool> Recorder::should_probe(VcpuRunner& runner, bool user_mode) {
  if (!probe_kick_) return false;
  if (!(user_mode ? options_.breakpoints.cpl3 : options_.breakpoints.cpl0)) return false;
  if (options_.async_mode != AsyncMode::kBreakpoint) {
    const auto since_exit = std::chrono::steady_clock::now() - last_exit_time_;
    if (!probe_can_pay_off(since_exit, options_.probe_budget, replay_costs())) return false;
  }
  auto pending = injection_pending(runner.vcpu());
  if (!pending) return pending.error();
  return !*pending;
}

ReplayCosts Recorder::replay_costs() const {
  return costs_ ? costs_->current() : kDefaultReplayCosts;
}

Result<void> Recorder::start_probe(VcpuRunner& runner, const kvm_regs& regs, bool user_mode) {
  if (auto r = single_step(runner.vcpu()); !r) return r;
  probe_ = Probe{};
  probe_->rip = regs.rip;
  probe_->user_mode = user_mode;
  probe_->fingerprint = register_fingerprint(regs);
  auto memory = memory_ahead(runner, regs);
  if (!memory) return memory.error();
  probe_->memory = *memory;
  probe_->kicked = runner.last_return_time();
  probe_->kicked_instructions = runner.vcpu().instructions_retired();
  ++landmarks_.probes;
  probe_kick_(options_.probe_budget);
  return {};
}

Result<void> Recorder::abandon_probe(VcpuRunner& runner) {
  probe_.reset();
  probe_kick_(std::chrono::nanoseconds(0));
  return clear_guest_debug(runner.vcpu());
}

Result<Position> Recorder::finish_probe(VcpuRunner& runner, uint64_t exit_count) {
  const Probe probe = *probe_;
  if (auto r = abandon_probe(runner); !r) return r.error();
  auto regs = runner.vcpu().get_regs();
  if (!regs) return regs.error();
  const bool came_round =
      !probe.stepping && runner.last_exit().exit_reason == KVM_EXIT_DEBUG && regs->rip == probe.rip;
  if (!came_round) {
    ++landmarks_.probe_expired;
    const bool forced = options_.async_mode == AsyncMode::kBreakpoint;
    // Where the vCPU counts instructions, the budget ran out in host time, which says nothing
    // about reach: under load a vCPU thread preempted in a hot loop lets it expire (seen in CI:
    // a breakpoint landmark 10,000+ hits away). The counted landmark is exact.
    if (forced && runner.vcpu().instructions_retired()) {
      ++landmarks_.breakpoint_fallbacks;
      return fallback_landmark(runner, *regs, exit_count);
    }
    // Forced on KVM, the point the guest reached is as good a breakpoint landmark as the kicked
    // one: RIP did not come round within the budget, so it is not hot.
    return landmark_at(runner, *regs, exit_count,
                       forced ? LandmarkKind::kBreakpoint : LandmarkKind::kCheckpoint);
  }
  // Registers that repeat are told apart by the memory the code is about to touch, where the
  // discriminator could read any: what the replay's search will compare too.
  bool same = register_fingerprint(*regs) == probe.fingerprint;
  std::optional<uint32_t> memory;
  if (same) {
    auto digested = memory_ahead(runner, *regs);
    if (!digested) return digested.error();
    memory = *digested;
    same = *memory == probe.memory;
    if (!same) ++landmarks_.probe_told_by_memory;
  }
  auto observation = observe_probe(runner, probe, same);
  if (!observation) return observation.error();
  return probe_verdict(runner, *regs, exit_count, *observation, memory);
}

Result<ProbeObservation> Recorder::observe_probe(VcpuRunner& runner, const Probe& probe,
                                                 bool same) {
  // Where the vCPU counts instructions, the guest's own measure replaces the clock: exact, and
  // blind to the host's load, which once made a preempted come-round of a two-instruction loop
  // look slow enough to search (238 hits estimated for a landmark more than 200,000 away).
  // Only the ratio of the two figures matters: an instruction stands for a nanosecond.
  if (probe.kicked_instructions) {
    const auto retired = runner.vcpu().instructions_retired();
    if (!retired) return make_error("the vCPU stopped counting instructions during a probe");
    return ProbeObservation{std::chrono::nanoseconds(*retired - runner.instructions_at_exit()),
                            std::chrono::nanoseconds(*retired - *probe.kicked_instructions), same};
  }
  // In guest time: the stretch from arming to the hit, less the entry and exit it took,
  // which the guest did not spend running. A stretch within twice the step's entry and exit
  // is below what this timing resolves (the two differ by microseconds from run to run, and a
  // two-instruction loop comes round in one or two): it counts as the shortest loop this
  // host runs at that privilege level, the hottest there is (zero where unmeasured).
  const auto stretch = runner.last_return_time() - runner.last_entry_time();
  const std::chrono::steady_clock::duration floor =
      probe.user_mode ? options_.shortest_loop.cpl3 : options_.shortest_loop.cpl0;
  const auto period =
      stretch < 2 * probe.entry_and_exit ? floor : std::max(floor, stretch - probe.entry_and_exit);
  return ProbeObservation{(probe.kicked - last_exit_time_) + period, period, same};
}

Result<Position> Recorder::probe_verdict(VcpuRunner& runner, const kvm_regs& regs,
                                         uint64_t exit_count, const ProbeObservation& observation,
                                         std::optional<uint32_t> memory) {
  const bool forced = options_.async_mode == AsyncMode::kBreakpoint;
  const LandmarkChoice choice =
      forced ? choose_forced_breakpoint(observation, replay_costs(), options_.search_limits)
             : choose_landmark(observation, replay_costs());
  if (choice.kind == LandmarkKind::kBreakpoint) {
    ++landmarks_.probe_breakpoint;
    landmarks_.probe_estimated_hits += choice.estimated_hits;
    return landmark_at(runner, regs, exit_count, LandmarkKind::kBreakpoint, memory);
  }
  ++landmarks_.probe_checkpoint;
  if (observation.same_fingerprint) ++landmarks_.probe_same_fingerprint;
  if (!forced) return landmark_at(runner, regs, exit_count, LandmarkKind::kCheckpoint);
  ++landmarks_.breakpoint_fallbacks;
  return fallback_landmark(runner, regs, exit_count);
}

Result<Position> Recorder::fallback_landmark(VcpuRunner& runner, const kvm_regs& regs,
                                             uint64_t exit_count) {
  if (const auto retired = runner.vcpu().instructions_retired()) {
    return counted_landmark(runner, exit_count, *retired);
  }
  return landmark_at(runner, regs, exit_count, LandmarkKind::kCheckpoint);
}

Result<Position> Recorder::counted_landmark(VcpuRunner& runner, uint64_t exit_count,
                                            uint64_t retired) {
  auto regs = runner.vcpu().get_regs();
  if (!regs) return regs.error();
  ++landmarks_.counted;
  return Position{exit_count, LandmarkKind::kCounted, AsyncPoint{0, registers_digest(*regs)},
                  retired - runner.instructions_at_exit()};
}

Result<std::optional<Position>> Recorder::async_position(VcpuRunner& runner, uint64_t exit_count) {
  // Where the backend counts, auto counts; --async breakpoint still places KVM's kind of
  // landmark there (the software CPU emulates the debug registers), so that kind is testable on
  // any machine.
  const auto retired = runner.vcpu().instructions_retired();
  if (retired && options_.async_mode == AsyncMode::kAuto) {
    return decided(counted_landmark(runner, exit_count, *retired));
  }
  if (probe_ && probe_->stepping && runner.last_exit().exit_reason == KVM_EXIT_DEBUG) {
    probe_->stepping = false;
    if (auto r = arm_execution_breakpoint(runner.vcpu(), probe_->rip); !r) return r.error();
    probe_->entry_and_exit = runner.last_return_time() - runner.last_entry_time();
    return std::optional<Position>{};
  }
  if (probe_) return decided(finish_probe(runner, exit_count));
  auto regs = runner.vcpu().get_regs();
  if (!regs) return regs.error();
  if (options_.async_mode == AsyncMode::kCheckpoint) {
    return decided(landmark_at(runner, *regs, exit_count, LandmarkKind::kCheckpoint));
  }
  auto sregs = runner.vcpu().get_sregs();
  if (!sregs) return sregs.error();
  const bool user_mode = current_privilege_level(*sregs) != 0;
  const bool forced = options_.async_mode == AsyncMode::kBreakpoint;
  if (forced && user_mode && !options_.breakpoints.cpl3 && !warned_user_mode_breakpoint_) {
    warned_user_mode_breakpoint_ = true;
    fmt::print(stderr,
               "ftvm: warning: --async breakpoint put a landmark in CPL3 code (rip {:#x}), where "
               "this host's KVM {} hardware breakpoints (kvm_pvm runs such code natively), so its "
               "replay would stop with a divergence report (`ftvm host-info` shows what this "
               "host reports)\n",
               regs->rip,
               options_.breakpoints.measured ? "reports no" : "was not measured to report");
  }
  auto probe = should_probe(runner, user_mode);
  if (!probe) return probe.error();
  if (*probe) {
    if (auto r = start_probe(runner, *regs, user_mode); !r) return r.error();
    return std::optional<Position>{};
  }
  return decided(landmark_at(runner, *regs, exit_count,
                             forced ? LandmarkKind::kBreakpoint : LandmarkKind::kCheckpoint));
}

Result<void> Recorder::log_event(const Position& position, const Event& event) {
  if (const auto* expiry = std::get_if<PitExpiry>(&event)) {
    return sink_.append(TimerEntry{position, expiry->generation});
  }
  if (std::holds_alternative<InterruptWindow>(event)) {
    window_requested_ = false;
    return sink_.append(InterruptWindowEntry{position});
  }
  if (const auto* done = std::get_if<BlockCompletion>(&event)) {
    return sink_.append(
        BlockCompletionEntry{position, done->id, static_cast<uint8_t>(done->status), done->data});
  }
  if (const auto* frame = std::get_if<NetFrame>(&event)) {
    return sink_.append(NetFrameEntry{position, frame->bytes});
  }
  const auto& input = std::get<ConsoleInput>(event);
  return sink_.append(ConsoleInputEntry{position, input.bytes});
}

DriverTurn Recorder::between_exits(VcpuRunner& runner, const BetweenExits& at) {
  DriverTurn turn;
  if (!at.asynchronous) {
    last_exit_time_ = runner.last_return_time();
    if (probe_) {
      // The guest reached an exit before RIP came round: the inputs land here, for free.
      ++landmarks_.probe_overtaken;
      if (auto r = abandon_probe(runner); !r) return fail(r.error());
    }
    if (auto r = log_memory_digest_if_due(at.exit_count); !r) return fail(r.error());
  }
  std::optional<Position> position;
  if (at.asynchronous) {
    // Nothing waits (a stray kick): nothing may enter here, and a recording stops only at a
    // deterministic exit.
    if (!events_.has_pending()) return turn;
    auto async = async_position(runner, at.exit_count);
    if (!async) return fail(async.error());
    if (!*async) return turn;  // probing: the inputs wait for RIP to come round
    position = **async;
  }
  while (auto event = events_.try_pop()) {
    if (!position) {
      position = Position{at.exit_count, LandmarkKind::kSynchronous, {}};
      if (landmarks_.synchronous++ % kRegistersDigestEvery == 0) {
        auto regs = runner.vcpu().get_regs();
        if (!regs) return fail(regs.error());
        if (auto r = sink_.append(RegistersDigestEntry{*position, registers_digest(*regs)}); !r) {
          return fail(r.error());
        }
      }
    }
    if (auto r = log_event(*position, *event); !r) return fail(r.error());
    if (auto r = runner.platform().apply(*event); !r) return fail(r.error());
    turn.applied_inputs = true;
  }
  request_window_if_blocked(runner, at, turn);
  // A recording stops only after a deterministic exit, so that its end is a position the
  // replayer reaches without a landmark.
  if (auto reason = events_.stop_reason(); reason && !at.asynchronous) {
    turn.stop = RunResult{RunResult::Reason::kStopRequested, 0, *reason};
  }
  return turn;
}

// Without the interrupt-window exit, an interrupt the guest cannot take now (IF=0: typically
// inside the timer's handler) waits for the next exit where it can, and a guest computing at
// CPL3 makes few: console input could wait for ticks, since the timer's interrupt has priority
// at each of them. So the recorder asks for an InterruptWindow event, which lands after
// max_delay at the next exit or an asynchronous landmark, where the runner delivers. Where the
// host's interrupt-window exit is exact, the runner uses that instead.
void Recorder::request_window_if_blocked(VcpuRunner& runner, const BetweenExits& at,
                                         const DriverTurn& turn) {
  if (options_.interrupt_window || !request_window_ || window_requested_) return;
  if (at.asynchronous && !turn.applied_inputs) return;  // nothing may be delivered here anyway
  // One per exit: a guest that still has IF=0 where the last window landed will exit again
  // before it can take the interrupt (it is in a handler), and asking again at once would
  // only kick it over and over (with --max-delay 0, without end).
  if (window_exit_count_ && *window_exit_count_ == at.exit_count) return;
  if (!runner.interrupt_blocked()) return;
  window_requested_ = true;
  window_exit_count_ = at.exit_count;
  request_window_();
}

std::optional<RunResult> Recorder::idle(VcpuRunner&, const BetweenExits&) {
  events_.wait(EventQueue::Clock::now() + kHaltPollInterval);
  return std::nullopt;
}

Result<void> Recorder::finish(VcpuRunner& runner, const RunResult& result) {
  if (probe_) {
    // The recording ended (at an exit, or the guest shut down) before RIP came round.
    ++landmarks_.probe_overtaken;
    if (auto r = abandon_probe(runner); !r) return r;
  }
  auto regs = runner.vcpu().get_regs();
  if (!regs) return regs.error();
  if (auto r = log_output_digest(runner.exit_count()); !r) return r;
  return sink_.append(EndEntry{runner.exit_count(), registers_digest(*regs),
                               memory_digest(vm_.memory()), result.detail});
}

}  // namespace ftvm::replay
