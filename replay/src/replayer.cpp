#include "replay/replayer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "replay/fingerprint.h"
#include "replay/recorder.h"
#include "replay/trace_report.h"
#include "vmm/crash_report.h"
#include "vmm/guest_debug.h"
#include "vmm/vcpu_runner.h"
#include "vmm/vcpu_state.h"

namespace ftvm::replay {
namespace {

constexpr size_t kRecentInputs = 8;
constexpr size_t kCollisionCandidatesShown = 3;
constexpr uint64_t kRflagsResume = 1ull << 16;  // RFLAGS.RF

Event to_event(const TraceEntry& entry) {
  if (const auto* timer = std::get_if<TimerEntry>(&entry)) return PitExpiry{timer->generation};
  if (std::holds_alternative<InterruptWindowEntry>(entry)) return InterruptWindow{};
  if (const auto* done = std::get_if<BlockCompletionEntry>(&entry)) {
    return BlockCompletion{done->request_id, static_cast<BlockStatus>(done->status), done->data};
  }
  if (const auto* frame = std::get_if<NetFrameEntry>(&entry)) return NetFrame{frame->bytes};
  return ConsoleInput{std::get<ConsoleInputEntry>(entry).bytes};
}

}  // namespace

ReplayCosts measured_replay_costs(const ReplayStats& stats) {
  ReplayCosts costs;
  if (stats.found_search_hits > 0) {
    costs.breakpoint_hit_us =
        stats.breakpoint_search_ms * 1000.0 / static_cast<double>(stats.found_search_hits);
  }
  if (stats.checkpoint > 0) {
    costs.checkpoint_load_us =
        stats.checkpoint_load_ms * 1000.0 / static_cast<double>(stats.checkpoint);
  }
  return costs;
}

SplitLog split_log(std::span<const LoggedEntry> entries) {
  SplitLog split;
  for (const auto& logged : entries) {
    if (const auto* read = std::get_if<ClockReadEntry>(&logged.entry)) {
      split.clock_reads.push_back(*read);
    } else {
      split.others.push_back(logged);
    }
  }
  return split;
}

std::optional<Position> input_position(const TraceEntry& entry) {
  if (const auto* e = std::get_if<TimerEntry>(&entry)) return e->position;
  if (const auto* e = std::get_if<ConsoleInputEntry>(&entry)) return e->position;
  if (const auto* e = std::get_if<CheckpointEntry>(&entry)) return e->position;
  if (const auto* e = std::get_if<InterruptWindowEntry>(&entry)) return e->position;
  if (const auto* e = std::get_if<BlockCompletionEntry>(&entry)) return e->position;
  if (const auto* e = std::get_if<NetFrameEntry>(&entry)) return e->position;
  return std::nullopt;
}

Replayer::Replayer(std::vector<LoggedEntry> entries, Vm& vm, ReplayTimeSource& time,
                   const DigestingConsole& outputs)
    : entries_(std::make_move_iterator(entries.begin()), std::make_move_iterator(entries.end())),
      vm_(vm),
      time_(time),
      outputs_(outputs) {}

Replayer::Replayer(LogFeed& feed, TimeSource& live_time, Vm& vm, ReplayTimeSource& time,
                   const DigestingConsole& outputs)
    : vm_(vm), time_(time), outputs_(outputs), feed_(&feed), live_time_(&live_time) {}

void Replayer::pull(LogFeed::Batch batch) {
  for (auto& logged : batch.entries) {
    if (const auto* read = std::get_if<ClockReadEntry>(&logged.entry)) {
      time_.append(*read);
    } else if (const auto* horizon = std::get_if<HorizonEntry>(&logged.entry)) {
      horizon_ = std::max(horizon_, horizon->exit_count);
    } else {
      pulled_lsn_ = logged.lsn + 1;
      entries_.push_back(std::move(logged));
      continue;
    }
    pulled_lsn_ = logged.lsn + 1;
  }
  if (batch.closed && !log_closed_) {
    log_closed_ = batch.closed;
    // Reads past the end of the log come from the host: the backup is about to go live.
    time_.go_live(*live_time_);
  }
  if (batch.stop) stop_request_ = batch.stop;
}

void Replayer::consume_front() {
  entries_.pop_front();
}

uint64_t Replayer::consumed_lsn() const {
  // Clock reads and horizons count as consumed when pulled; an entry waiting in entries_
  // holds back every LSN after it.
  return entries_.empty() ? pulled_lsn_ : entries_.front().lsn;
}

std::optional<RunResult> Replayer::check_output(VcpuRunner& runner,
                                                const OutputDigestEntry& expected) {
  ++stats_.output_digests;
  if (outputs_.bytes() == expected.bytes && outputs_.digest() == expected.digest) {
    return std::nullopt;
  }
  return divergence(
      runner, fmt::format("the guest's console output differs from the recording: "
                          "{} bytes with digest {:#018x}, recorded {} bytes with "
                          "digest {:#018x}",
                          outputs_.bytes(), outputs_.digest(), expected.bytes, expected.digest));
}

RunResult Replayer::divergence(VcpuRunner& runner, const std::string& what) {
  std::string report = fmt::format("DIVERGENCE at exit E={}: {}\n", runner.exit_count(), what);
  if (!entries_.empty()) {
    report += fmt::format("next log entry: {}\n", format_entry(entries_.front()));
  }
  report += "guest now:\n" + crash_report(runner.vcpu(), vm_.memory());
  report += "last inputs applied (oldest first):\n";
  for (const auto& line : recent_inputs_) report += "  " + line + "\n";
  report += fingerprint_collision_hint();
  return RunResult{RunResult::Reason::kDivergence, 0, report};
}

std::string Replayer::fingerprint_collision_hint() const {
  if (unverified_breakpoints_.empty()) return {};
  std::string hint = fmt::format(
      "possible fingerprint collision: since the last RAM digest that matched, the replay "
      "stopped at {} breakpoint landmark(s) told apart from other executions of their RIP by "
      "registers and, where the landmark has one (mem=), a digest of the memory its next "
      "instructions address. A loop that keeps its state in memory that neither covers executes "
      "such a RIP alike in several iterations, and the search stops at the first. Recorded with "
      "--async auto, such a point gets a checkpoint (its probe sees the state repeat). "
      "Latest:\n",
      unverified_breakpoint_count_);
  for (const auto& found : unverified_breakpoints_) {
    hint += fmt::format("  {} after {} hits\n", format_position(found.position), found.hits);
  }
  return hint;
}

std::optional<RunResult> Replayer::debug_fault(const Result<void>& result) {
  if (result.ok()) return std::nullopt;
  return RunResult{RunResult::Reason::kFault, 0, result.error().message};
}

// A search reads the registers at every hit: from the run page where KVM syncs them there
// (no ioctl), else with KVM_GET_REGS.
Result<kvm_regs> Replayer::registers_at_hit(VcpuRunner& runner) {
  if (registers_synced_) return runner.vcpu().registers_at_exit();
  return runner.vcpu().get_regs();
}

std::optional<RunResult> Replayer::arm_breakpoint(VcpuRunner& runner, const Position& target) {
  // Already looking for it, or stepping over a hit that was not it: leave that be.
  if (search_ != Search::kIdle && target_ == target) return std::nullopt;
  if (target_ != target) {
    hits_this_search_ = 0;
    search_started_ = std::chrono::steady_clock::now();
  }
  target_ = target;
  search_ = Search::kArmed;
  if (!registers_synced_) registers_synced_ = runner.vcpu().sync_registers_on_exit();
  return debug_fault(arm_execution_breakpoint(runner.vcpu(), target.point.rip));
}

std::optional<RunResult> Replayer::arm_counted(VcpuRunner& runner, const Position& target) {
  if (search_ == Search::kCounting && target_ == target) return std::nullopt;
  ++stats_.counted;
  target_ = target;
  search_ = Search::kCounting;
  return debug_fault(
      runner.vcpu().stop_at_instruction(runner.instructions_at_exit() + target.instructions));
}

std::optional<RunResult> Replayer::check_counted_stop(VcpuRunner& runner, const BetweenExits& at,
                                                      std::optional<Position>& reached) {
  if (search_ != Search::kCounting || !at.asynchronous ||
      runner.last_exit().exit_reason != KVM_EXIT_DEBUG) {
    return std::nullopt;
  }
  auto regs = runner.vcpu().get_regs();
  if (!regs) return RunResult{RunResult::Reason::kFault, 0, regs.error().message};
  const Position target = *target_;
  search_ = Search::kIdle;
  target_.reset();
  if (registers_digest(*regs) != target.point.fingerprint) {
    return divergence(runner, fmt::format("at the counted landmark {} the registers differ from "
                                          "the recording (digest {:#018x})",
                                          format_position(target), registers_digest(*regs)));
  }
  reached = target;
  return std::nullopt;
}

std::optional<RunResult> Replayer::check_breakpoint_hit(VcpuRunner& runner, const BetweenExits& at,
                                                        std::optional<Position>& reached) {
  if (search_ == Search::kSteppingOver) {
    // Stepped past the instruction at the breakpoint (or left it by an exit): look again.
    search_ = Search::kIdle;
    const Position target = *target_;
    return arm_breakpoint(runner, target);
  }
  if (search_ != Search::kArmed || !at.asynchronous ||
      runner.last_exit().exit_reason != KVM_EXIT_DEBUG) {
    return std::nullopt;
  }
  ++stats_.breakpoint_hits;
  ++hits_this_search_;
  auto regs = registers_at_hit(runner);
  if (!regs) return RunResult{RunResult::Reason::kFault, 0, regs.error().message};
  auto found = is_target_execution(runner, *regs);
  if (!found) return RunResult{RunResult::Reason::kFault, 0, found.error().message};
  if (*found) {
    stats_.max_hits = std::max(stats_.max_hits, hits_this_search_);
    stats_.found_search_hits += hits_this_search_;
    stats_.breakpoint_search_ms += std::chrono::duration<double, std::milli>(
                                       std::chrono::steady_clock::now() - search_started_)
                                       .count();
    reached = target_;
    unverified_breakpoints_.push_back({*target_, hits_this_search_});
    if (unverified_breakpoints_.size() > kCollisionCandidatesShown) {
      unverified_breakpoints_.pop_front();
    }
    ++unverified_breakpoint_count_;
    search_ = Search::kIdle;
    target_.reset();
    return debug_fault(clear_guest_debug(runner.vcpu()));
  }
  if (auto lost = search_exhausted(runner)) return lost;
  auto resume = may_resume_past(runner);
  if (!resume) return RunResult{RunResult::Reason::kFault, 0, resume.error().message};
  if (*resume) {
    // Not this execution of RIP: resume with RF set, which takes the guest past the armed
    // breakpoint for this one instruction.
    ++stats_.resumed_past;
    regs->rflags |= kRflagsResume;
    return debug_fault(runner.vcpu().set_regs(*regs));
  }
  // Not this execution of RIP: execute it with the breakpoint off, then re-arm.
  search_ = Search::kSteppingOver;
  return debug_fault(single_step(runner.vcpu()));
}

Result<bool> Replayer::may_resume_past(VcpuRunner& runner) {
  if (resume_flag_.cpl0 == resume_flag_.cpl3) return resume_flag_.cpl0;
  auto sregs = runner.vcpu().get_sregs();
  if (!sregs) return sregs.error();
  return (sregs->cs.selector & 3) == 3 ? resume_flag_.cpl3 : resume_flag_.cpl0;
}

Result<bool> Replayer::is_target_execution(VcpuRunner& runner, const kvm_regs& regs) {
  const AsyncPoint& point = target_->point;
  if (regs.rip != point.rip || register_fingerprint(regs) != point.fingerprint) return false;
  if (point.memory == 0) return true;
  auto memory = discriminator_.digest(runner.vcpu(), vm_.memory(), regs);
  if (!memory) return memory.error();
  if (*memory == point.memory) return true;
  ++stats_.memory_mismatches;
  return false;
}

// The recording's point lies between two exits; searches measured on kvm_pvm need at most a
// few thousand hits. One past either limit has met its RIP so often, or searched so long, that
// the point is not on this path (or the hardware does not report it there).
std::optional<RunResult> Replayer::search_exhausted(VcpuRunner& runner) {
  const auto searched = std::chrono::steady_clock::now() - search_started_;
  if (hits_this_search_ <= limits_.max_hits && searched <= limits_.max_time) return std::nullopt;
  const double seconds = std::chrono::duration<double>(searched).count();
  const std::string hit_limit =
      limits_.max_hits == ~0ull ? "no hit limit" : fmt::format("{} hits", limits_.max_hits);
  return divergence(
      runner,
      fmt::format("the breakpoint search for the landmark {} gave up after {} hits in {:.1f} s "
                  "(limits: {}, {:.1f} s): the guest executes that RIP, but never with the "
                  "recorded registers",
                  format_position(*target_), hits_this_search_, seconds, hit_limit,
                  std::chrono::duration<double>(limits_.max_time).count()));
}

// The recording's runner offered waiting console input to the UART at exit E, before the
// guest ran on to the checkpoint's point; the checkpoint carries the UART after that offer
// but not the input still waiting (Platform's, outside the UART). So the offer happens here,
// before the load, once per exit, and not again after it: offered after the load, the same
// bytes would reach the UART twice.
void Replayer::leave_exit(VcpuRunner& runner, const BetweenExits& at, DriverTurn& turn) {
  if (at.asynchronous || turn.moved_past_exit) return;
  runner.platform().offer_pending_input();
  turn.moved_past_exit = true;
}

std::optional<RunResult> Replayer::load_checkpoint(VcpuRunner& runner,
                                                   const CheckpointEntry& entry) {
  const auto started = std::chrono::steady_clock::now();
  auto state = decode_state(entry.state);
  if (!state) return divergence(runner, "checkpoint does not decode: " + state.error().message);
  if (auto r = load_state(*state, runner.vcpu(), runner.platform(), vm_.memory()); !r) {
    return RunResult{RunResult::Reason::kFault, 0, "cannot load checkpoint: " + r.error().message};
  }
  runner.mark_running_after_state_load();
  if (state->vcpu.regs.rip != entry.position.point.rip ||
      register_fingerprint(state->vcpu.regs) != entry.position.point.fingerprint) {
    return divergence(runner, "checkpoint state does not match its own position");
  }
  ++stats_.checkpoint;
  stats_.checkpoint_load_ms +=
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  return std::nullopt;
}

std::optional<RunResult> Replayer::apply_input(VcpuRunner& runner, const LoggedEntry& logged) {
  if (auto r = runner.platform().apply(to_event(logged.entry)); !r) {
    return divergence(runner, fmt::format("the logged input {} cannot be applied: {}",
                                          format_entry(logged), r.error().message));
  }
  ++stats_.inputs;
  recent_inputs_.push_back(format_entry(logged));
  if (recent_inputs_.size() > kRecentInputs) recent_inputs_.pop_front();
  return std::nullopt;
}

std::optional<RunResult> Replayer::verify_end(VcpuRunner& runner, const EndEntry& end) {
  auto regs = runner.vcpu().get_regs();
  if (!regs) return RunResult{RunResult::Reason::kFault, 0, regs.error().message};
  if (registers_digest(*regs) != end.registers_digest) {
    return divergence(runner, fmt::format("registers at the end differ from the recording "
                                          "(digest {:#018x}, recorded {:#018x})",
                                          registers_digest(*regs), end.registers_digest));
  }
  const uint64_t memory = memory_digest(vm_.memory());
  if (memory != end.memory_digest) {
    return divergence(runner, fmt::format("guest RAM at the end differs from the recording "
                                          "(xxh3 {:#018x}, recorded {:#018x})",
                                          memory, end.memory_digest));
  }
  return RunResult{RunResult::Reason::kReplayComplete, 0,
                   fmt::format("replay reached the recording's end at E={} with identical "
                               "registers and RAM (recording ended: {})",
                               end.exit_count, end.reason)};
}

std::optional<RunResult> Replayer::check_stall(VcpuRunner& runner, const BetweenExits& at) {
  const auto now = std::chrono::steady_clock::now();
  if (at.exit_count != progress_exit_count_ || stats_.breakpoint_hits != progress_hits_) {
    progress_exit_count_ = at.exit_count;
    progress_hits_ = stats_.breakpoint_hits;
    progress_time_ = now;
    return std::nullopt;
  }
  if (now - progress_time_ < kStallLimit) return std::nullopt;
  std::string what = fmt::format("the guest made no progress for {} s (no exit, no breakpoint hit)",
                                 kStallLimit.count());
  if (target_) {
    what += fmt::format(
        " while searching for the breakpoint landmark {}: this host's KVM did not report the "
        "breakpoint. Some hosts report none in some guest code (kvm_pvm none at CPL3, QEMU 7.2's "
        "nested SVM none at all; `ftvm host-info` shows what this one reports): record with "
        "--async auto or checkpoint",
        format_position(*target_));
  }
  return divergence(runner, what);
}

DriverTurn Replayer::between_exits(VcpuRunner& runner, const BetweenExits& at) {
  DriverTurn turn;
  if (time_.divergence()) {
    turn.stop = divergence(runner, *time_.divergence());
    return turn;
  }
  if (auto stall = check_stall(runner, at)) {
    turn.stop = stall;
    return turn;
  }
  std::optional<Position> reached;
  if (auto stop = check_breakpoint_hit(runner, at, reached)) {
    turn.stop = stop;
    return turn;
  }
  if (auto stop = check_counted_stop(runner, at, reached)) {
    turn.stop = stop;
    return turn;
  }
  if (feed_ != nullptr) return streaming_turn(runner, at, reached);
  turn.stop = apply_due_entries(runner, at, turn, reached);
  if (!turn.stop && entries_.empty() && !turn.applied_inputs) {
    turn.stop = RunResult{RunResult::Reason::kReplayComplete, 0,
                          "the log ends here without an end entry (a torn or unfinished trace); "
                          "replayed everything it holds"};
  }
  return turn;
}

// The backup's turn: the log keeps arriving, and the guest may only leave exit E once the log
// says what happens at E: a horizon beyond E, or (after the primary is gone) entries still to
// replay. Until then the vCPU waits here; that wait is the backup's buffering lag.
DriverTurn Replayer::streaming_turn(VcpuRunner& runner, const BetweenExits& at,
                                    std::optional<Position>& reached) {
  DriverTurn turn;
  for (;;) {
    pull(feed_->take());
    if (stop_request_) {
      turn.stop = RunResult{RunResult::Reason::kStopRequested, 0, *stop_request_};
      return turn;
    }
    if (auto stop = apply_due_entries(runner, at, turn, reached)) {
      turn.stop = stop;
      return turn;
    }
    const bool may_leave = horizon_ > at.exit_count || (log_closed_ && !entries_.empty());
    if (may_leave) return turn;
    // A closed log with nothing left ends here, also between two exits: a guest computing
    // without exits after the last entry would otherwise never come back to a turn that could
    // end it (the stall watchdog would call it a divergence).
    if (log_closed_) {
      turn.stop = log_ended(at.exit_count);
      return turn;
    }
    if (at.asynchronous) return turn;
    pull(feed_->wait(LogFeed::Clock::now() + kFeedPoll));
    // Waiting for the primary is not a stall of the guest.
    progress_time_ = std::chrono::steady_clock::now();
  }
}

void Replayer::await_entries(std::chrono::milliseconds limit) {
  const auto deadline = LogFeed::Clock::now() + limit;
  pull(feed_->take());
  while (entries_.empty() && !log_closed_ && LogFeed::Clock::now() < deadline) {
    pull(feed_->wait(std::min(deadline, LogFeed::Clock::now() + kFeedPoll)));
  }
}

RunResult Replayer::log_ended(uint64_t exit_count) {
  log_exhausted_ = true;
  return RunResult{RunResult::Reason::kReplayComplete, 0,
                   fmt::format("replayed the whole log up to exit {} ({})", exit_count,
                               log_closed_.value_or("log ended"))};
}

std::optional<RunResult> Replayer::apply_due_entries(VcpuRunner& runner, const BetweenExits& at,
                                                     DriverTurn& turn,
                                                     std::optional<Position>& reached) {
  while (!entries_.empty()) {
    const LoggedEntry& logged = entries_.front();
    std::optional<RunResult> stop;
    if (const auto* digest = std::get_if<MemoryDigestEntry>(&logged.entry)) {
      if (digest->exit_count > at.exit_count) break;
      if (digest->exit_count < at.exit_count || at.asynchronous) {
        stop = divergence(runner, "the replay passed a memory digest point without stopping");
      } else if (const uint64_t actual = memory_digest(vm_.memory()); actual != digest->digest) {
        stop = divergence(runner, fmt::format("guest RAM differs from the recording (xxh3 {:#018x},"
                                              " recorded {:#018x})",
                                              actual, digest->digest));
      } else {
        unverified_breakpoints_.clear();
        unverified_breakpoint_count_ = 0;
      }
      ++stats_.memory_digests;
    } else if (const auto* digest = std::get_if<RegistersDigestEntry>(&logged.entry)) {
      if (digest->position.exit_count > at.exit_count) break;
      auto regs = runner.vcpu().get_regs();
      if (digest->position.exit_count < at.exit_count || at.asynchronous) {
        stop = divergence(runner, "the replay passed a registers digest point without stopping");
      } else if (!regs || registers_digest(*regs) != digest->digest) {
        stop = divergence(runner, fmt::format("registers differ from the recording at {} "
                                              "(recorded digest {:#018x})",
                                              format_position(digest->position), digest->digest));
      }
      ++stats_.register_digests;
    } else if (const auto* output = std::get_if<OutputDigestEntry>(&logged.entry)) {
      if (output->exit_count > at.exit_count) break;
      if (output->exit_count < at.exit_count || at.asynchronous) {
        stop = divergence(runner, "the replay passed an output digest point without stopping");
      } else {
        stop = check_output(runner, *output);
      }
    } else if (const auto* end = std::get_if<EndEntry>(&logged.entry)) {
      if (end->exit_count > at.exit_count) break;
      if (end->exit_count < at.exit_count || at.asynchronous) {
        stop = divergence(runner, "the replay ran past the recording's end");
      } else {
        stop = verify_end(runner, *end);
      }
    } else {
      if (std::holds_alternative<HorizonEntry>(logged.entry)) {
        // A log saved from the channel: horizons only pace a streaming replay.
        consume_front();
        continue;
      }
      const Position position = *input_position(logged.entry);
      if (position.exit_count > at.exit_count) break;
      if (position.exit_count < at.exit_count) {
        stop = divergence(runner, fmt::format("the replay passed exit {} without reaching the "
                                              "landmark {}",
                                              position.exit_count, format_position(position)));
      } else if (const auto* checkpoint = std::get_if<CheckpointEntry>(&logged.entry)) {
        leave_exit(runner, at, turn);
        stop = load_checkpoint(runner, *checkpoint);
        reached = position;
      } else if (position.kind == LandmarkKind::kSynchronous) {
        if (at.asynchronous) break;  // applied at the synchronous turn after exit E
        if (turn.applied_inputs == false) ++stats_.synchronous;
        stop = apply_input(runner, logged);
        turn.applied_inputs = true;
      } else if (reached == position) {
        stop = apply_input(runner, logged);
        turn.applied_inputs = true;
      } else if (position.kind == LandmarkKind::kCheckpoint) {
        stop = divergence(runner, "an input logged at a checkpoint came without its checkpoint");
      } else if (position.kind == LandmarkKind::kCounted) {
        stop = arm_counted(runner, position);
        if (!stop) break;
      } else {
        if (!target_ || *target_ != position) ++stats_.breakpoint;
        stop = arm_breakpoint(runner, position);
        if (!stop) break;
      }
    }
    if (stop) return stop;
    consume_front();
  }
  return std::nullopt;
}

std::optional<RunResult> Replayer::idle(VcpuRunner& runner, const BetweenExits& at) {
  if (entries_.empty() && feed_ != nullptr) {
    if (log_closed_) return log_ended(at.exit_count);
    pull(feed_->wait(LogFeed::Clock::now() + kFeedPoll));
    return std::nullopt;
  }
  if (entries_.empty()) return std::nullopt;
  return divergence(runner, fmt::format("the guest halted at exit {} with no interrupt to wake it, "
                                        "but the log has nothing more for this exit",
                                        at.exit_count));
}

RunResult Replayer::conclude(VcpuRunner& runner, const RunResult& result) {
  if (result.reason != RunResult::Reason::kGuestShutdown &&
      result.reason != RunResult::Reason::kFault) {
    return result;
  }
  if (feed_ != nullptr) await_entries(kStallLimit);
  while (!entries_.empty()) {
    const auto* end = std::get_if<EndEntry>(&entries_.front().entry);
    if (end == nullptr) {
      if (const auto* output = std::get_if<OutputDigestEntry>(&entries_.front().entry)) {
        if (auto stop = check_output(runner, *output)) return *stop;
        consume_front();
        continue;
      }
      if (std::holds_alternative<MemoryDigestEntry>(entries_.front().entry) ||
          std::holds_alternative<HorizonEntry>(entries_.front().entry)) {
        consume_front();
        continue;
      }
      return divergence(runner,
                        "the guest stopped (" + result.detail + ") where the recording went on");
    }
    if (end->exit_count != runner.exit_count()) {
      return divergence(runner,
                        fmt::format("the guest stopped ({}) at exit {}, the recording at {}",
                                    result.detail, runner.exit_count(), end->exit_count));
    }
    return *verify_end(runner, *end);
  }
  return result;
}

}  // namespace ftvm::replay
