// The replaying driver: applies each logged input at its logged position, so the guest runs
// exactly as it did when recorded, and proves it by checking the logged digests.
//
//   synchronous:  after exit E, where the runner stops anyway;
//   checkpoint:   after exit E, load the logged state (vCPU, devices, dirty pages): the guest
//                 is then at the recorded point;
//   breakpoint:   after exit E, a hardware breakpoint at RIP; at each hit compare the
//                 fingerprint of GPRs and RFLAGS; on a mismatch single-step over the
//                 instruction and re-arm; on a match the guest is at the recorded point.
//   counted:      after exit E, the vCPU stops right before the instruction that would pass
//                 the logged count; the registers digest there must match.
//
// Any mismatch (a digest, a clock read at another exit, a landmark passed without being
// reached, a halt the log cannot wake) stops the replay with a divergence report.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "replay/chunk.h"
#include "replay/landmark_choice.h"
#include "replay/log_feed.h"
#include "replay/memory_discriminator.h"
#include "replay/output_digest.h"
#include "replay/replay_time_source.h"
#include "vmm/breakpoint_reach.h"
#include "vmm/execution_driver.h"
#include "vmm/vm.h"

namespace ftvm::replay {

struct ReplayStats {
  uint64_t synchronous = 0;
  uint64_t breakpoint = 0;
  uint64_t checkpoint = 0;
  uint64_t counted = 0;
  uint64_t breakpoint_hits = 0;  // debug exits at breakpoints, over all searches
  uint64_t max_hits = 0;         // the most hits one search needed
  // Hits that were not the landmark, gone past with RFLAGS.RF (set_resume_flag) rather than a
  // single step: one debug exit each instead of two.
  uint64_t resumed_past = 0;
  // Hits whose registers matched the landmark's but the memory ahead did not: iterations a
  // fingerprint alone would have taken for the landmark.
  uint64_t memory_mismatches = 0;
  // Wall time from arming each search to reaching its landmark: the guest's run from exit E
  // to the point included, which a checkpoint would have skipped.
  double breakpoint_search_ms = 0;
  uint64_t found_search_hits = 0;  // the hits of those searches (breakpoint_hits less any
                                   // search still under way)
  double checkpoint_load_ms = 0;   // total time loading checkpoints
  uint64_t memory_digests = 0;     // checked
  uint64_t register_digests = 0;   // checked
  uint64_t output_digests = 0;     // checked
  uint64_t inputs = 0;
};

// What this replay measured each kind of asynchronous landmark to cost (zero where it met
// none): what a backup reports to its primary for --async auto.
ReplayCosts measured_replay_costs(const ReplayStats& stats);

class Replayer final : public ExecutionDriver {
 public:
  // `entries` are the log's entries except clock reads (those go to the ReplayTimeSource).
  Replayer(std::vector<LoggedEntry> entries, Vm& vm, ReplayTimeSource& time,
           const DigestingConsole& outputs);
  // A backup's replayer: the log streams in through `feed` (all of it, clock reads and
  // horizons included). Once the feed is closed, clock reads past the log come from
  // `live_time`.
  Replayer(LogFeed& feed, TimeSource& live_time, Vm& vm, ReplayTimeSource& time,
           const DigestingConsole& outputs);

  DriverTurn between_exits(VcpuRunner& runner, const BetweenExits& at) override;
  std::optional<RunResult> idle(VcpuRunner& runner, const BetweenExits& at) override;

  // After run() stopped by itself (guest shutdown or fault), checks that the recording ended
  // at the same exit and in the same state. Returns the final result.
  RunResult conclude(VcpuRunner& runner, const RunResult& result);

  void set_search_limits(const SearchLimits& limits) { limits_ = limits; }
  // Where (by privilege level) a hit that is not the landmark may be gone past with RFLAGS.RF
  // (vmm/breakpoint_reach.h, resume_flag_reach); elsewhere, and by default, a single step.
  void set_resume_flag(const BreakpointReach& reach) { resume_flag_ = reach; }

  const ReplayStats& stats() const { return stats_; }
  // Streaming: the replay stopped because the closed log had nothing more (kReplayComplete
  // with this set is where a backup may go live).
  bool log_exhausted() const { return log_exhausted_; }
  // Streaming: entries consumed so far (for acks), and the horizon received.
  uint64_t consumed_lsn() const;
  uint64_t horizon() const { return horizon_; }

  // A replay whose guest makes no progress (no exit, no breakpoint hit) for this long has
  // diverged: typically a breakpoint landmark the hardware cannot see. The caller kicks the
  // vCPU periodically so the replayer gets to check. With SearchLimits this bounds a replay:
  // it ends, exact or with a report, within max_time of its last landmark or exit, or
  // kStallLimit of its guest's last progress, whichever comes first (plus a kick period).
  static constexpr std::chrono::seconds kStallLimit{5};
  // How long a backup's vCPU waits on the feed before looking at stop requests again.
  static constexpr std::chrono::milliseconds kFeedPoll{50};

 private:
  enum class Search { kIdle, kArmed, kSteppingOver, kCounting };

  DriverTurn streaming_turn(VcpuRunner& runner, const BetweenExits& at,
                            std::optional<Position>& reached);
  std::optional<RunResult> apply_due_entries(VcpuRunner& runner, const BetweenExits& at,
                                             DriverTurn& turn, std::optional<Position>& reached);
  void pull(LogFeed::Batch batch);
  void consume_front();
  void await_entries(std::chrono::milliseconds limit);
  RunResult log_ended(uint64_t exit_count);
  std::optional<RunResult> check_breakpoint_hit(VcpuRunner& runner, const BetweenExits& at,
                                                std::optional<Position>& reached);
  std::optional<RunResult> arm_breakpoint(VcpuRunner& runner, const Position& target);
  std::optional<RunResult> arm_counted(VcpuRunner& runner, const Position& target);
  std::optional<RunResult> check_counted_stop(VcpuRunner& runner, const BetweenExits& at,
                                              std::optional<Position>& reached);
  static std::optional<RunResult> debug_fault(const Result<void>& result);
  Result<kvm_regs> registers_at_hit(VcpuRunner& runner);
  std::optional<RunResult> check_output(VcpuRunner& runner, const OutputDigestEntry& expected);
  std::optional<RunResult> verify_end(VcpuRunner& runner, const EndEntry& end);
  void leave_exit(VcpuRunner& runner, const BetweenExits& at, DriverTurn& turn);
  std::optional<RunResult> load_checkpoint(VcpuRunner& runner, const CheckpointEntry& entry);
  // A divergence when the machine cannot take the input (a block completion its disk never
  // asked for).
  std::optional<RunResult> apply_input(VcpuRunner& runner, const LoggedEntry& logged);
  RunResult divergence(VcpuRunner& runner, const std::string& what);
  std::optional<RunResult> search_exhausted(VcpuRunner& runner);
  // Whether a hit at the landmark's RIP and registers is the recorded execution: its memory
  // ahead matches too, where the landmark carries a digest of it.
  Result<bool> is_target_execution(VcpuRunner& runner, const kvm_regs& regs);
  // Whether a hit that was not the landmark is gone past with RF (at the guest's CPL now).
  Result<bool> may_resume_past(VcpuRunner& runner);
  std::string fingerprint_collision_hint() const;
  std::optional<RunResult> check_stall(VcpuRunner& runner, const BetweenExits& at);

  std::deque<LoggedEntry> entries_;  // not yet consumed
  Vm& vm_;
  ReplayTimeSource& time_;
  const DigestingConsole& outputs_;
  Search search_ = Search::kIdle;
  std::optional<Position> target_;
  uint64_t hits_this_search_ = 0;
  std::chrono::steady_clock::time_point search_started_;
  bool registers_synced_ = false;  // KVM copies the GPRs into the run page at every exit
  std::deque<std::string> recent_inputs_;
  // Breakpoint landmarks found since the last RAM digest that matched: each was told apart from
  // other executions of its RIP by registers (and, where recorded, the memory ahead of it), so
  // a loop whose state lives in memory elsewhere can have stopped the search an iteration early
  // (a fingerprint collision). A report names them.
  struct FoundByRegisters {
    Position position;
    uint64_t hits = 0;
  };
  MemoryDiscriminator discriminator_;
  std::deque<FoundByRegisters> unverified_breakpoints_;  // the latest few
  uint64_t unverified_breakpoint_count_ = 0;
  uint64_t progress_exit_count_ = ~0ull;
  uint64_t progress_hits_ = 0;
  std::chrono::steady_clock::time_point progress_time_;
  ReplayStats stats_;
  SearchLimits limits_;
  BreakpointReach resume_flag_{false, false, false};
  // Streaming only:
  LogFeed* feed_ = nullptr;
  TimeSource* live_time_ = nullptr;
  uint64_t horizon_ = 0;
  uint64_t pulled_lsn_ = 0;  // one past the last entry pulled from the feed
  std::optional<std::string> log_closed_;
  std::optional<std::string> stop_request_;
  bool log_exhausted_ = false;
};

// A log as a replay consumes it: clock reads go to the ReplayTimeSource, the rest to the
// Replayer.
struct SplitLog {
  std::vector<ClockReadEntry> clock_reads;
  std::vector<LoggedEntry> others;
};
SplitLog split_log(std::span<const LoggedEntry> entries);

// The position an input entry is applied at; nullopt for entries that are not inputs.
std::optional<Position> input_position(const TraceEntry& entry);

}  // namespace ftvm::replay
