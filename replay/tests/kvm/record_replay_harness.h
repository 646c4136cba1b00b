// In-process record and replay of a hand-written guest, for the kvm-labelled tests.
//
// record_guest() boots a guest ELF, runs it under replay::Recorder with live backends (PIT
// ticks from a timerfd, epoch-style delivery with a chosen max_delay) and collects the log in
// memory. replay_recording() boots the same image with the recording's CPUID on a fresh VM and
// runs it under replay::Replayer, wired like `ftvm replay` (clock reads to a ReplayTimeSource,
// a periodic kick so a stalled replay is noticed, conclude() at the end).
//
// Both VMs get a test device on port 0x600 (the guests' verdict port) whose writes are kept,
// so a test can compare what the guest said on record and on replay. A replay is exact iff it
// ends with kReplayComplete (the replayer checked registers and RAM digests) and both write
// sequences are equal.
//
// Streamed replay (a backup's mode): the recording can log a HorizonEntry at every
// deterministic exit, as a protected primary does, and the replay can take the log through a
// LogFeed that a feeder thread fills in small batches, as the logging channel does.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "replay/recorder.h"
#include "replay/replayer.h"
#include "replay/trace_entry.h"
#include "vmm/exit_handler.h"
#include "vmm/result.h"
#include "vmm/vcpu_runner.h"
#include "vmm/vm.h"

namespace ftvm::replay::testing {

inline constexpr uint16_t kTestPort = 0x600;

struct PortWrite {
  uint64_t offset = 0;
  uint32_t size = 0;
  uint64_t value = 0;
  bool operator==(const PortWrite&) const = default;
};

struct RecordSetup {
  std::string guest;          // an ELF file name in FTVM_RR_GUEST_DIR
  Accel accel = Accel::kKvm;  // the replay runs on the same backend
  AsyncMode async_mode = AsyncMode::kAuto;
  std::chrono::nanoseconds max_delay = std::chrono::milliseconds(1);
  // Short, so that a run of a few tens of milliseconds also checks RAM digests mid-run.
  std::chrono::milliseconds digest_interval{5};
  // Safety net: a guest that never shuts down ends the recording here (kStopRequested).
  std::chrono::milliseconds time_limit{10000};
  uint64_t mem_bytes = 8ull << 20;
  // Log a HorizonEntry{E} at every deterministic exit E (once per new exit count), after the
  // recorder's own entries of that turn, as a protected primary does (PrimaryDriver): the log
  // a backup's streaming replayer needs to leave an exit.
  bool log_horizons = false;
  // The replay costs --async auto decides with (a backup's reports, in a pair).
  ReplayCosts replay_costs = kDefaultReplayCosts;
  // Ask for interrupt-window events as `ftvm record` does (Recorder::set_window_request): a
  // tick that arrives with IF=0 then lands at the next asynchronous landmark instead of
  // waiting for an exit.
  bool window_requests = false;
  // Deliver blocked interrupts at the interrupt-window exit (RecordOptions::interrupt_window);
  // by default as `ftvm record`: where the host takes that exit exactly
  // (vmm/exact_interrupt_window.h). The stand-in window requests above then go unused.
  std::optional<bool> interrupt_window;
  // What --async breakpoint's probe weighs a search against (RecordOptions::search_limits).
  SearchLimits search_limits;
  // Console input, all of it available from the start (through a pipe, as `ftvm record`
  // reads stdin).
  std::string console_input;
  // A test's hold on the recording VM, for a state transfer: `started` once the VM and its
  // runner exist, before the first entry; `before_turn` on the vCPU thread before each of the
  // recorder's turns, with the number of entries logged so far; `ended` once the runner
  // stopped, while the VM still exists.
  struct Tap {
    std::function<void(Vm&, VcpuRunner&)> started;
    std::function<void(VcpuRunner&, const BetweenExits&, size_t logged)> before_turn;
    std::function<void()> ended;
  };
  std::optional<Tap> tap;
};

struct Recording {
  std::vector<uint8_t> image;
  std::string image_name;
  uint64_t mem_bytes = 0;
  Accel accel = Accel::kKvm;
  std::vector<kvm_cpuid_entry2> cpuid;  // what the recorded guest saw
  std::vector<TraceEntry> entries;      // the whole log, in order
  RunResult result;
  std::vector<PortWrite> port_writes;
  LandmarkCounts landmarks;
  ExitCounters exits;
  uint64_t exit_count = 0;
  double seconds = 0;
  bool interrupt_window = false;  // as the trace header's: the replay does the same
};

// How a streamed replay's log reaches the replayer (ReplaySetup::streamed).
struct StreamSetup {
  // Batches of 1..max_batch entries with pauses of 0..max_pause between them, drawn from a
  // pseudo-random generator seeded with `seed`.
  size_t max_batch = 8;
  std::chrono::microseconds max_pause{200};
  uint64_t seed = 1;
  // The primary dies here: only entries [0, end_at) are pushed.
  std::optional<size_t> end_at;
  // The primary is slow, not gone: after pushing entries [0, hold_at), push nothing for
  // `hold_for` and, with `hold_until_exit`, on until the replay has got to that exit (or the
  // time limit has passed); note how far the replay got (Replay::at_hold_end), then go on.
  std::optional<size_t> hold_at;
  std::chrono::milliseconds hold_for{300};
  std::optional<uint64_t> hold_until_exit;
  // What the feeder does after its last entry.
  enum class End {
    kClose,        // feed.close("primary lost"): the backup finishes the log
    kRequestStop,  // feed.request_stop(...): the operator stops the backup
    kLeaveOpen,    // nothing: the primary is still there (stopped at time_limit)
  };
  End end = End::kClose;
};

struct ReplaySetup {
  // Safety net: a replay still running then is stopped (kStopRequested), so a replay that
  // never ends fails a test instead of hanging it. The harness also stops (kStopRequested) a
  // breakpoint search that hits with identical registers 1000 times in a row. The slowest
  // exact replay of these guests takes ~2 s (reg_loop, breakpoint landmarks, ~1000 hits
  // each); a replay that lost its way searches until a SearchLimits bound (20 s by default).
  // A streamed replay waiting on its feed at the limit is stopped through the feed
  // (LogFeed::request_stop), also kStopRequested.
  std::chrono::milliseconds time_limit{8000};
  // Send the log through the trace codec (one chunk, encoded and parsed back) first, as a
  // trace file or the logging channel would.
  bool through_codec = true;
  // Replay as a backup does: the streaming Replayer, fed the whole log (clock reads and
  // horizons included, LSN = index) through a LogFeed by a feeder thread, with the host clock
  // as its live time once the log is closed. See StreamSetup.
  bool streamed = false;
  StreamSetup stream;
  // The replayer's bounds on one breakpoint search (its defaults when unset).
  // Where a search goes past a hit with RFLAGS.RF (Replayer::set_resume_flag); by default as
  // `ftvm replay`: where the host probe saw it work, everywhere on the software CPU.
  std::optional<BreakpointReach> resume_flag;
  std::optional<SearchLimits> search_limits;
  // Replay from a state the running recording handed over (a backup brought up by state
  // transfer), not from boot: `load` puts it into the fresh VM and returns where the
  // recording's runner stood; the replay takes the log's entries from `first_entry` on. Not
  // with `streamed`.
  struct Takeover {
    std::function<Result<VcpuRunner::ResumePoint>(Vm&)> load;
    size_t first_entry = 0;
  };
  std::optional<Takeover> takeover;
};

// How far a streamed replay had got at the end of StreamSetup's hold.
struct HoldObservation {
  bool finished = false;    // runner.run() had returned
  uint64_t exit_count = 0;  // the exit count of the replayer's latest turn
};

struct Replay {
  RunResult result;
  std::vector<PortWrite> port_writes;
  ReplayStats stats;
  ExitCounters exits;
  uint64_t exit_count = 0;
  double seconds = 0;
  // Streamed replays only (Replayer's accessors of the same names):
  bool log_exhausted = false;
  uint64_t consumed_lsn = 0;
  uint64_t horizon = 0;
  std::optional<HoldObservation> at_hold_end;
};

Result<std::vector<uint8_t>> read_guest(const std::string& name);

// CPL0 instructions per 100 us on this host (the host probe, once per process; kvm_pvm's ~1M/s
// where the probe fails), so the guests size their spins in time, not in instructions. The
// software CPU counts every instruction in a hook: about 50M/s here. The guests read it from
// their test port (rr.inc: rr_instructions_per_100us).
uint32_t instructions_per_100us(Accel accel);

Result<Recording> record_guest(const RecordSetup& setup);

// Whether a recording has an asynchronous landmark (a breakpoint, checkpoint or counted one).
bool has_asynchronous_landmark(const Recording& recording);

// Records until the recording has an asynchronous landmark, at most `attempts` times, and
// returns the last. Where every exit costs the host more than the guest's time between exits
// (the KVM test box), a tick kicked at once can find the vCPU in an exit 30 times in a row and
// land synchronously every time (seen 3 attempts in a row in CI's box run under -j2 load); a
// test about asynchronous landmarks needs at least one to say anything, and a host that never
// gives one still fails it.
Result<Recording> record_guest_with_asynchronous_landmark(const RecordSetup& setup,
                                                          int attempts = 6);

// Replays `entries` (normally recording.entries; a test may pass an altered copy) on a fresh
// VM booted from the recording's image, memory size and CPUID.
Result<Replay> replay_recording(const Recording& recording, const std::vector<TraceEntry>& entries,
                                const ReplaySetup& setup = {});

// A run without record or replay, for probing the platform.
struct PlainRun {
  RunResult result;
  std::vector<PortWrite> port_writes;
  ExitCounters exits;
};

// Boots `guest` with no host timer and raises IRQ0 (a PIT expiry; the guest must have
// programmed PIC and PIT) at the exit of its first write to the test port, with the runner's
// interrupt window on or off (VcpuRunner::set_use_interrupt_window). Runs until the guest
// shuts down.
Result<PlainRun> run_with_irq_at_first_port_write(const std::string& guest,
                                                  bool use_interrupt_window);

// The values the guest wrote to offset 0 of the test port.
std::vector<uint64_t> port_values(const std::vector<PortWrite>& writes);

bool exact(const Recording& recording, const Replay& replay);

const char* reason_name(RunResult::Reason reason);

// One line of figures for test logs: landmarks, breakpoint hits, checkpoint load time, times.
std::string summary(const Recording& recording, const Replay& replay);

// The first lines of a report (a divergence report's rest is a register dump).
std::string report_head(const std::string& report, size_t lines = 4);

// How many inputs (timer ticks, console input) `entries` hold.
uint64_t input_count(std::span<const TraceEntry> entries);

// The exit count E in a divergence report's first line ("DIVERGENCE at exit E=..."), if any.
std::optional<uint64_t> divergence_exit(const std::string& report);

}  // namespace ftvm::replay::testing
