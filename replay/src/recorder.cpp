#include "replay/recorder.h"

#include <fmt/format.h>
#include <xxhash.h>

#include "replay/fingerprint.h"
#include "vmm/vcpu_runner.h"
#include "vmm/vcpu_state.h"

namespace ftvm::replay {
namespace {

constexpr auto kHaltPollInterval = std::chrono::milliseconds(100);
// Synchronous landmarks are cheap to log (a few bytes); a registers digest on every one would
// triple that. Every 16th carries one; asynchronous ones carry their own fingerprint.
constexpr uint64_t kRegistersDigestEvery = 16;

int current_privilege_level(const kvm_sregs& sregs) {
  return sregs.cs.selector & 3;
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
  const auto now = std::chrono::steady_clock::now();
  if (now < next_digest_) return {};
  next_digest_ = now + options_.digest_interval;
  ++landmarks_.memory_digests;
  if (auto r = log_output_digest(exit_count); !r) return r;
  return sink_.append(MemoryDigestEntry{exit_count, memory_digest(vm_.memory())});
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

Result<Position> Recorder::async_position(VcpuRunner& runner, uint64_t exit_count) {
  auto regs = runner.vcpu().get_regs();
  if (!regs) return regs.error();
  Position position{exit_count, LandmarkKind::kBreakpoint,
                    AsyncPoint{regs->rip, register_fingerprint(*regs)}};
  bool checkpoint = options_.async_mode == AsyncMode::kCheckpoint;
  if (options_.async_mode != AsyncMode::kCheckpoint) {
    auto sregs = runner.vcpu().get_sregs();
    if (!sregs) return sregs.error();
    const bool user_mode = current_privilege_level(*sregs) != 0;
    if (options_.async_mode == AsyncMode::kAuto) checkpoint = user_mode;
    if (user_mode && !checkpoint && !warned_user_mode_breakpoint_) {
      warned_user_mode_breakpoint_ = true;
      fmt::print(stderr,
                 "ftvm: warning: --async breakpoint put a landmark in CPL3 code (rip {:#x}); on "
                 "this host such code runs natively and hardware breakpoints do not fire in it, "
                 "so its replay will stop with a divergence report\n",
                 regs->rip);
    }
  }
  if (!checkpoint) {
    // An interrupt injected at exit E but not yet taken is invisible to a breakpoint search
    // (the guest takes it before reaching RIP); only a checkpoint reproduces it.
    auto events = runner.vcpu().get_events();
    if (!events) return events.error();
    checkpoint = events->interrupt.injected != 0 || events->exception.injected != 0;
  }
  if (checkpoint) {
    position.kind = LandmarkKind::kCheckpoint;
    if (auto r = log_checkpoint(runner, position); !r) return r.error();
  } else {
    ++landmarks_.breakpoint;
  }
  return position;
}

Result<void> Recorder::log_event(const Position& position, const Event& event) {
  if (const auto* expiry = std::get_if<PitExpiry>(&event)) {
    return sink_.append(TimerEntry{position, expiry->generation});
  }
  if (std::holds_alternative<InterruptWindow>(event)) {
    window_requested_ = false;
    return sink_.append(InterruptWindowEntry{position});
  }
  const auto& input = std::get<ConsoleInput>(event);
  return sink_.append(ConsoleInputEntry{position, input.bytes});
}

DriverTurn Recorder::between_exits(VcpuRunner& runner, const BetweenExits& at) {
  DriverTurn turn;
  if (!at.asynchronous) {
    if (auto r = log_memory_digest_if_due(at.exit_count); !r) return fail(r.error());
  }
  std::optional<Position> position;
  while (auto event = events_.try_pop()) {
    if (!position) {
      if (at.asynchronous) {
        auto async = async_position(runner, at.exit_count);
        if (!async) return fail(async.error());
        position = *async;
      } else {
        position = Position{at.exit_count, LandmarkKind::kSynchronous, {}};
        if (landmarks_.synchronous++ % kRegistersDigestEvery == 0) {
          auto regs = runner.vcpu().get_regs();
          if (!regs) return fail(regs.error());
          if (auto r = sink_.append(RegistersDigestEntry{*position, registers_digest(*regs)}); !r) {
            return fail(r.error());
          }
        }
      }
    }
    if (auto r = log_event(*position, *event); !r) return fail(r.error());
    runner.platform().apply(*event);
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
// max_delay at the next exit or an asynchronous landmark, where the runner delivers.
void Recorder::request_window_if_blocked(VcpuRunner& runner, const BetweenExits& at,
                                         const DriverTurn& turn) {
  if (!request_window_ || window_requested_) return;
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
  auto regs = runner.vcpu().get_regs();
  if (!regs) return regs.error();
  if (auto r = log_output_digest(runner.exit_count()); !r) return r;
  return sink_.append(EndEntry{runner.exit_count(), registers_digest(*regs),
                               memory_digest(vm_.memory()), result.detail});
}

}  // namespace ftvm::replay
