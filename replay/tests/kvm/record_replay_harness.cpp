#include "record_replay_harness.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <mutex>
#include <random>
#include <regex>
#include <thread>

#include "kvm_gate.h"
#include "replay/chunk.h"
#include "replay/entry_sink.h"
#include "replay/fingerprint.h"
#include "replay/log_feed.h"
#include "replay/output_digest.h"
#include "replay/recording_time_source.h"
#include "replay/replay_time_source.h"
#include "replay/trace_report.h"
#include "vmm/devices/console.h"
#include "vmm/devices/time_source.h"
#include "vmm/event_queue.h"
#include "vmm/exact_interrupt_window.h"
#include "vmm/live_backends.h"
#include "vmm/periodic_kick.h"
#include "vmm/vcpu_runner.h"

namespace ftvm::replay::testing {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

uint32_t instructions_per_100us(Accel accel) {
  if (accel == Accel::kEmu) return 5000;
  static const uint32_t value = [] {
    const auto& facts = ::ftvm::testing::host_guest_debug();
    const double per_second = facts ? facts->cpl0_instructions_per_second : 1e6;
    return static_cast<uint32_t>(std::clamp(per_second / 1e4, 10.0, 1e7));
  }();
  return value;
}

namespace {

// The guests' verdict port: keeps every write; a read of offset 4 answers
// instructions_per_100us(accel), any other zero.
class TestPortDevice final : public IoDevice {
 public:
  void read(uint64_t offset, std::span<uint8_t> data) override {
    const uint32_t value = offset == 4 ? instructions_per_100us(accel) : 0;
    for (size_t i = 0; i < data.size(); ++i) data[i] = i < 4 ? uint8_t(value >> (8 * i)) : 0;
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    uint64_t value = 0;
    for (size_t i = 0; i < data.size(); ++i) value |= uint64_t{data[i]} << (8 * i);
    writes.push_back({offset, static_cast<uint32_t>(data.size()), value});
  }
  std::vector<PortWrite> writes;
  Accel accel = Accel::kKvm;
};

class NullConsole final : public ConsoleSink {
 public:
  void write(std::span<const uint8_t>) override {}
};

class VectorSink final : public EntrySink {
 public:
  Result<void> append(const TraceEntry& entry) override {
    entries.push_back(entry);
    return {};
  }
  std::vector<TraceEntry> entries;
};

// Hands the test's tap each turn before the recorder has it (RecordSetup::Tap).
class TappedDriver final : public ExecutionDriver {
 public:
  TappedDriver(ExecutionDriver& inner, const RecordSetup::Tap* tap, const VectorSink& sink)
      : inner_(inner), tap_(tap), sink_(sink) {}
  DriverTurn between_exits(VcpuRunner& runner, const BetweenExits& at) override {
    if (tap_ != nullptr && tap_->before_turn) tap_->before_turn(runner, at, sink_.entries.size());
    return inner_.between_exits(runner, at);
  }
  std::optional<RunResult> idle(VcpuRunner& runner, const BetweenExits& at) override {
    return inner_.idle(runner, at);
  }

 private:
  ExecutionDriver& inner_;
  const RecordSetup::Tap* tap_;
  const VectorSink& sink_;
};

// Runs the replayer, but stops a replay that cannot end by itself, so that it fails its test
// instead of hanging the test binary:
//  - at a deadline (a breakpoint search for a landmark that is never found, while the guest
//    keeps hitting the breakpoint, counts as progress for the replayer's own stall check);
//  - when the guest hits the breakpoint again and again with identical registers: the search
//    does not move (it re-arms the breakpoint without stepping over the instruction).
class Watchdog final : public ExecutionDriver {
 public:
  Watchdog(ExecutionDriver& inner, Clock::time_point deadline)
      : inner_(inner), deadline_(deadline) {}

  DriverTurn between_exits(VcpuRunner& runner, const BetweenExits& at) override {
    latest_exit_count_.store(at.exit_count);
    DriverTurn turn = inner_.between_exits(runner, at);
    if (turn.stop) return turn;
    if (Clock::now() >= deadline_) {
      turn.stop =
          RunResult{RunResult::Reason::kStopRequested, 0,
                    fmt::format("test harness: replay time limit reached at E={}", at.exit_count)};
    } else if (at.asynchronous && runner.last_exit().exit_reason == KVM_EXIT_DEBUG) {
      auto regs = runner.vcpu().get_regs();
      const uint64_t digest = regs ? registers_digest(*regs) : 0;
      same_debug_exits_ = digest == last_debug_digest_ ? same_debug_exits_ + 1 : 0;
      last_debug_digest_ = digest;
      if (same_debug_exits_ >= kLivelockExits) {
        turn.stop = RunResult{
            RunResult::Reason::kStopRequested, 0,
            fmt::format("test harness: replay livelock at E={}: {} debug exits in a row at "
                        "rip={:#x} with identical registers (the breakpoint search does not "
                        "step over the instruction at its breakpoint)",
                        at.exit_count, same_debug_exits_, regs ? regs->rip : 0)};
      }
    }
    return turn;
  }
  std::optional<RunResult> idle(VcpuRunner& runner, const BetweenExits& at) override {
    return inner_.idle(runner, at);
  }
  // The exit count of the latest turn (read from another thread while the replay runs).
  uint64_t latest_exit_count() const { return latest_exit_count_.load(); }

 private:
  static constexpr uint64_t kLivelockExits = 1000;
  ExecutionDriver& inner_;
  Clock::time_point deadline_;
  uint64_t last_debug_digest_ = 0;
  uint64_t same_debug_exits_ = 0;
  std::atomic<uint64_t> latest_exit_count_{0};
};

// What a protected primary adds to the recorder's log (PrimaryDriver::between_exits): at each
// deterministic exit, once per new exit count, a HorizonEntry after the recorder's entries.
class HorizonLogger final : public ExecutionDriver {
 public:
  HorizonLogger(ExecutionDriver& recorder, EntrySink& sink) : recorder_(recorder), sink_(sink) {}

  DriverTurn between_exits(VcpuRunner& runner, const BetweenExits& at) override {
    DriverTurn turn = recorder_.between_exits(runner, at);
    if (at.asynchronous) return turn;
    if (!horizon_logged_ || at.exit_count > horizon_) {
      horizon_logged_ = true;
      horizon_ = at.exit_count;
      if (auto r = sink_.append(HorizonEntry{at.exit_count}); !r) {
        turn.stop = RunResult{RunResult::Reason::kFault, 0, "logging failed: " + r.error().message};
      }
    }
    return turn;
  }
  std::optional<RunResult> idle(VcpuRunner& runner, const BetweenExits& at) override {
    return recorder_.idle(runner, at);
  }

 private:
  ExecutionDriver& recorder_;
  EntrySink& sink_;
  bool horizon_logged_ = false;
  uint64_t horizon_ = 0;
};

// The logging channel's side of a streamed replay: pushes the log into a LogFeed from its own
// thread as StreamSetup says, then ends it; stops the replay through the feed if it is still
// running at the deadline (a replayer waiting on its feed never returns to the Watchdog).
class StreamFeeder {
 public:
  StreamFeeder(LogFeed& feed, const std::vector<LoggedEntry>& log, const StreamSetup& setup,
               const Watchdog& watchdog, Clock::time_point deadline)
      : feed_(feed),
        log_(log),
        setup_(setup),
        watchdog_(watchdog),
        deadline_(deadline),
        thread_([this] { feed_all(); }) {}
  StreamFeeder(const StreamFeeder&) = delete;
  StreamFeeder& operator=(const StreamFeeder&) = delete;
  ~StreamFeeder() {
    replay_finished();
    if (thread_.joinable()) thread_.join();
  }

  // The vCPU loop has returned.
  void replay_finished() {
    {
      std::lock_guard lock(mutex_);
      finished_ = true;
    }
    changed_.notify_all();
  }
  // Joins the feeder; then the hold's observation, if there was a hold.
  std::optional<HoldObservation> join() {
    if (thread_.joinable()) thread_.join();
    return hold_;
  }

 private:
  void feed_all() {
    std::mt19937_64 random(setup_.seed);
    std::uniform_int_distribution<size_t> batch_size(1, std::max<size_t>(1, setup_.max_batch));
    std::uniform_int_distribution<int64_t> pause_us(0, setup_.max_pause.count());
    const size_t end = std::min(log_.size(), setup_.end_at.value_or(log_.size()));
    const size_t hold_at = std::min(end, setup_.hold_at.value_or(end + 1));
    size_t next = 0;
    while (next < end || next == hold_at) {
      if (next == hold_at && !hold_) {
        hold();
        if (next == end) break;
      }
      size_t count = std::min(batch_size(random), end - next);
      if (next < hold_at) count = std::min(count, hold_at - next);
      feed_.push({log_.begin() + static_cast<ptrdiff_t>(next),
                  log_.begin() + static_cast<ptrdiff_t>(next + count)});
      next += count;
      if (const int64_t pause = pause_us(random); pause > 0) {
        std::this_thread::sleep_for(std::chrono::microseconds(pause));
      }
    }
    switch (setup_.end) {
      case StreamSetup::End::kClose:
        feed_.close("primary lost");
        break;
      case StreamSetup::End::kRequestStop:
        feed_.request_stop("test harness: stop requested after the stream");
        break;
      case StreamSetup::End::kLeaveOpen:
        break;
    }
    std::unique_lock lock(mutex_);
    if (!changed_.wait_until(lock, deadline_, [this] { return finished_; })) {
      feed_.request_stop("test harness: replay time limit reached while waiting on the log");
    }
  }

  void hold() {
    std::this_thread::sleep_for(setup_.hold_for);
    if (setup_.hold_until_exit) {
      // The replay's progress is polled: the vCPU thread signals nothing on its way.
      while (watchdog_.latest_exit_count() < *setup_.hold_until_exit && Clock::now() < deadline_) {
        std::unique_lock lock(mutex_);
        if (changed_.wait_for(lock, std::chrono::milliseconds(2), [this] { return finished_; })) {
          break;
        }
      }
    }
    std::lock_guard lock(mutex_);
    hold_ = HoldObservation{finished_, watchdog_.latest_exit_count()};
  }

  LogFeed& feed_;
  const std::vector<LoggedEntry>& log_;
  const StreamSetup& setup_;
  const Watchdog& watchdog_;
  Clock::time_point deadline_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool finished_ = false;
  std::optional<HoldObservation> hold_;
  std::thread thread_;  // last: starts once the members above exist
};

// Raises IRQ0 (a PIT expiry) at the exit of the guest's first write to the test port, once.
class IrqAtFirstPortWrite final : public ExecutionDriver {
 public:
  explicit IrqAtFirstPortWrite(const TestPortDevice& port) : port_(port) {}
  DriverTurn between_exits(VcpuRunner& runner, const BetweenExits& at) override {
    DriverTurn turn;
    if (!raised_ && !at.asynchronous && port_.writes.size() == 1) {
      raised_ = true;
      const PitExpiry expiry{runner.platform().pit().timer_schedule().generation};
      if (auto r = runner.platform().apply(expiry); !r) {
        turn.stop = RunResult{RunResult::Reason::kFault, 0, r.error().message};
      }
      turn.applied_inputs = true;
    }
    return turn;
  }
  std::optional<RunResult> idle(VcpuRunner&, const BetweenExits&) override {
    return RunResult{RunResult::Reason::kStopRequested, 0, "the guest halted with IF=0"};
  }

 private:
  const TestPortDevice& port_;
  bool raised_ = false;
};

// With FTVM_RR_TRACE set in the environment, prints every turn of the vCPU loop (where the
// guest is, what the driver did): for debugging a replay that does not follow its recording.
class TracingDriver final : public ExecutionDriver {
 public:
  TracingDriver(ExecutionDriver& inner, const char* side)
      : inner_(inner), side_(side), enabled_(std::getenv("FTVM_RR_TRACE") != nullptr) {}

  DriverTurn between_exits(VcpuRunner& runner, const BetweenExits& at) override {
    std::string where;
    if (enabled_ && turns_ < kMaxTurns) {
      auto regs = runner.vcpu().get_regs();
      const kvm_run& run = runner.last_exit();
      where = fmt::format(
          "{} E={} {} exit={} rip={:#x} rax={:#x} rbx={:#x} rcx={:#x} "
          "rflags={:#x} if={} ready={} window={}",
          side_, at.exit_count, at.asynchronous ? "async" : "sync", run.exit_reason,
          regs ? regs->rip : 0, regs ? regs->rax : 0, regs ? regs->rbx : 0, regs ? regs->rcx : 0,
          regs ? regs->rflags : 0, run.if_flag, run.ready_for_interrupt_injection,
          run.request_interrupt_window);
    }
    DriverTurn turn = inner_.between_exits(runner, at);
    if (!where.empty()) {
      ++turns_;
      auto regs = runner.vcpu().get_regs();
      fmt::print(stderr, "{}{}{}\n", where, turn.applied_inputs ? " APPLIED" : "",
                 turn.applied_inputs && regs ? fmt::format(" -> rip={:#x}", regs->rip) : "");
    }
    return turn;
  }
  std::optional<RunResult> idle(VcpuRunner& runner, const BetweenExits& at) override {
    return inner_.idle(runner, at);
  }

 private:
  static constexpr uint64_t kMaxTurns = 3000;
  ExecutionDriver& inner_;
  const char* side_;
  bool enabled_;
  uint64_t turns_ = 0;
};

Result<std::vector<LoggedEntry>> to_logged_entries(const std::vector<TraceEntry>& entries,
                                                   bool through_codec) {
  if (through_codec) {
    auto chunk = encode_chunk(entries, 0);
    if (!chunk) return chunk.error();
    auto log = parse_log(*chunk);
    if (!log) return log.error();
    if (log->torn_tail) return make_error("log round trip left a torn tail: " + *log->torn_tail);
    return std::move(log->entries);
  }
  std::vector<LoggedEntry> logged;
  for (size_t i = 0; i < entries.size(); ++i) logged.push_back({i, entries[i], 0});
  return logged;
}

}  // namespace

Result<std::vector<uint8_t>> read_guest(const std::string& name) {
  const std::string path = std::string(FTVM_RR_GUEST_DIR) + "/" + name;
  std::ifstream in(path, std::ios::binary);
  if (!in.good()) return make_error("missing test guest " + path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// A pipe whose read end yields `bytes`, then end of file. (The input fits the pipe's buffer.)
static Result<UniqueFd> input_pipe(const std::string& bytes) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return make_error("pipe2 failed");
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  if (::write(write_end.get(), bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
    return make_error("cannot write the console input into its pipe");
  }
  return read_end;
}

// The host probe's facts where `accel` is KVM (measured once per process); nullopt on the
// software CPU, which needs none, and where the probe failed.
static std::optional<GuestDebugFacts> host_facts(Accel accel) {
  if (accel != Accel::kKvm) return std::nullopt;
  const auto& measured = ::ftvm::testing::host_guest_debug();
  return measured ? std::optional(*measured) : std::nullopt;
}

bool has_asynchronous_landmark(const Recording& recording) {
  const auto& l = recording.landmarks;
  return l.breakpoint + l.checkpoint + l.counted > 0;
}

Result<Recording> record_guest_with_asynchronous_landmark(const RecordSetup& setup, int attempts) {
  for (int attempt = 1;; ++attempt) {
    auto recording = record_guest(setup);
    if (!recording || has_asynchronous_landmark(*recording) || attempt >= attempts) {
      return recording;
    }
    std::cout << "[ again    ] " << setup.guest << ": no asynchronous landmark in attempt "
              << attempt << " of " << attempts << ", recording again\n";
  }
}

Result<Recording> record_guest(const RecordSetup& setup) {
  const auto started = Clock::now();
  Recording recording;
  auto image = read_guest(setup.guest);
  if (!image) return image.error();
  recording.image = std::move(*image);
  recording.image_name = setup.guest;
  recording.mem_bytes = setup.mem_bytes;
  recording.accel = setup.accel;

  // Declared before the VM, which refers to them until it is destroyed.
  VectorSink sink;
  HostTimeSource host_time;
  RecordingTimeSource time(host_time, sink);
  NullConsole null_console;
  DigestingConsole console(null_console);  // the recorder logs digests of guest output
  TestPortDevice port;
  port.accel = setup.accel;

  VmConfig config;
  config.accel = setup.accel;
  config.mem_bytes = setup.mem_bytes;
  config.image = recording.image;
  config.image_name = setup.guest;
  // As `ftvm record` does: checkpoints carry the pages dirtied since the previous one, and
  // --async breakpoint, which is not meant to take checkpoints, leaves dirty logging off.
  config.track_dirty_pages = true;  // as ftvm record: forced checkpoints need it in every mode
  auto vm = Vm::create(config, time, console);
  if (!vm) return vm.error();
  if (auto r = (*vm)->platform().pio_bus().insert(kTestPort, 8, port, "test-port"); !r) {
    return r.error();
  }
  recording.cpuid = (*vm)->cpuid();

  EventQueue events;
  LiveBackends::Options live;
  live.time_limit = setup.time_limit;
  live.handle_termination_signals = false;  // the test process keeps its signals
  live.max_delay = setup.max_delay;
  UniqueFd input;
  if (!setup.console_input.empty()) {
    auto pipe = input_pipe(setup.console_input);
    if (!pipe) return pipe.error();
    input = std::move(*pipe);
    live.input_fd = input.get();
  }
  auto backends = LiveBackends::start(events, live);
  if (!backends) return backends.error();

  install_kick_signal_handler();
  RecordOptions options;
  options.async_mode = setup.async_mode;
  options.digest_interval = setup.digest_interval;
  options.probe_budget = probe_budget_for(setup.max_delay);
  options.search_limits = setup.search_limits;
  // As `ftvm record`: where the host probe says breakpoints reach, and whether its
  // interrupt-window exit is exact.
  const std::optional<GuestDebugFacts> facts = host_facts(setup.accel);
  options.breakpoints = breakpoint_reach(setup.accel, facts);
  options.shortest_loop = shortest_loop(setup.accel, facts);
  options.interrupt_window =
      setup.interrupt_window.value_or(exact_interrupt_window(setup.accel, facts));
  recording.interrupt_window = options.interrupt_window;
  Recorder recorder(events, sink, **vm, console, options);
  recorder.set_probe_kick(
      [b = backends->get()](std::chrono::nanoseconds delay) { b->kick_after(delay); });
  if (setup.window_requests) {
    recorder.set_window_request([b = backends->get()] { b->push_deferred(InterruptWindow{}); });
  }
  ReplayCostModel costs;
  costs.report(setup.replay_costs);
  recorder.set_cost_model(&costs);
  HorizonLogger horizons(recorder, sink);
  TappedDriver tapped(setup.log_horizons ? static_cast<ExecutionDriver&>(horizons) : recorder,
                      setup.tap ? &*setup.tap : nullptr, sink);
  TracingDriver tracing(tapped, "record");
  VcpuRunner runner((*vm)->vcpu(), (*vm)->platform(), tracing);
  runner.set_use_interrupt_window(options.interrupt_window);  // as `ftvm record`
  time.set_exit_count([&runner] { return runner.exit_count(); });
  events.set_kick([&runner] { runner.kick(); });
  runner.on_pit_schedule_change(
      [b = backends->get()](const PitTimerSchedule& s) { b->schedule_pit(s); });
  if (setup.tap && setup.tap->started) setup.tap->started(**vm, runner);
  recording.result = runner.run();
  if (setup.tap && setup.tap->ended) setup.tap->ended();
  events.set_kick(nullptr);
  backends->reset();  // stop the I/O thread before the queue and runner go away
  if (auto r = recorder.finish(runner, recording.result); !r) return r.error();
  if (time.failed()) return make_error("a clock read could not be logged");

  if (std::getenv("FTVM_RR_TRACE") != nullptr) {
    for (size_t i = 0; i < sink.entries.size(); ++i) {
      fmt::print(stderr, "log: {}\n", format_entry(LoggedEntry{i, sink.entries[i], 0}));
    }
  }
  recording.entries = std::move(sink.entries);
  recording.port_writes = std::move(port.writes);
  recording.landmarks = recorder.landmarks();
  recording.exits = runner.counters();
  recording.exit_count = runner.exit_count();
  recording.seconds = seconds_since(started);
  return recording;
}

Result<Replay> replay_recording(const Recording& recording, const std::vector<TraceEntry>& entries,
                                const ReplaySetup& setup) {
  const auto started = Clock::now();
  auto logged = to_logged_entries(entries, setup.through_codec);
  if (!logged) return logged.error();
  for (size_t i = 0; i < logged->size(); ++i) {
    if ((*logged)[i].lsn != i) {
      return make_error(fmt::format("entry {} has LSN {}", i, (*logged)[i].lsn));
    }
  }
  if (setup.takeover) {
    if (setup.streamed) return make_error("a takeover replay is not streamed");
    if (setup.takeover->first_entry > logged->size()) {
      return make_error("the takeover starts past the end of the log");
    }
    logged->erase(logged->begin(),
                  logged->begin() + static_cast<ptrdiff_t>(setup.takeover->first_entry));
  }
  // Streamed, the replayer takes the whole log (clock reads included) from the feed.
  SplitLog log = setup.streamed ? SplitLog{} : split_log(*logged);

  Replay replay;
  ReplayTimeSource time(std::move(log.clock_reads));
  NullConsole null_console;
  DigestingConsole console(null_console);  // the replayer checks the logged output digests
  TestPortDevice port;
  port.accel = recording.accel;
  VmConfig config;
  config.mem_bytes = recording.mem_bytes;
  config.image = recording.image;
  config.image_name = recording.image_name;
  config.cpuid = recording.cpuid;  // the same CPU as the recorded guest saw
  config.accel = recording.accel;
  auto vm = Vm::create(config, time, console);
  if (!vm) return vm.error();
  if (auto r = (*vm)->platform().pio_bus().insert(kTestPort, 8, port, "test-port"); !r) {
    return r.error();
  }

  LogFeed feed;
  HostTimeSource live_time;  // a streamed replay's clock once its log is closed
  std::optional<Replayer> streaming;
  std::optional<Replayer> whole;
  if (setup.streamed) {
    streaming.emplace(feed, live_time, **vm, time, console);
  } else {
    whole.emplace(std::move(log.others), **vm, time, console);
  }
  Replayer& replayer = setup.streamed ? *streaming : *whole;
  if (setup.search_limits) replayer.set_search_limits(*setup.search_limits);
  replayer.set_resume_flag(
      setup.resume_flag.value_or(resume_flag_reach(recording.accel, host_facts(recording.accel))));
  Watchdog watchdog_driver(replayer, started + setup.time_limit);
  TracingDriver tracing(watchdog_driver, "replay");
  install_kick_signal_handler();
  VcpuRunner runner((*vm)->vcpu(), (*vm)->platform(), tracing);
  runner.set_use_interrupt_window(recording.interrupt_window);  // as `ftvm replay`
  if (setup.takeover) {
    auto point = setup.takeover->load(**vm);
    if (!point) return point.error();
    runner.resume_at(*point);
  }
  time.set_exit_count([&runner] { return runner.exit_count(); });
  PeriodicKick kicks(runner, std::chrono::milliseconds(200));
  std::optional<StreamFeeder> feeder;
  if (setup.streamed) {
    feeder.emplace(feed, *logged, setup.stream, watchdog_driver, started + setup.time_limit);
  }
  const RunResult ran = runner.run();
  if (feeder) feeder->replay_finished();
  replay.result = replayer.conclude(runner, ran);
  kicks.stop();
  if (feeder) {
    replay.at_hold_end = feeder->join();
    replay.log_exhausted = replayer.log_exhausted();
    replay.consumed_lsn = replayer.consumed_lsn();
    replay.horizon = replayer.horizon();
  }

  replay.port_writes = std::move(port.writes);
  replay.stats = replayer.stats();
  replay.exits = runner.counters();
  replay.exit_count = runner.exit_count();
  replay.seconds = seconds_since(started);
  return replay;
}

Result<PlainRun> run_with_irq_at_first_port_write(const std::string& guest,
                                                  bool use_interrupt_window) {
  auto image = read_guest(guest);
  if (!image) return image.error();
  HostTimeSource time;
  NullConsole console;
  TestPortDevice port;
  VmConfig config;
  config.mem_bytes = 8ull << 20;
  config.image = *image;
  config.image_name = guest;
  auto vm = Vm::create(config, time, console);
  if (!vm) return vm.error();
  if (auto r = (*vm)->platform().pio_bus().insert(kTestPort, 8, port, "test-port"); !r) {
    return r.error();
  }
  IrqAtFirstPortWrite driver(port);
  install_kick_signal_handler();
  VcpuRunner runner((*vm)->vcpu(), (*vm)->platform(), driver);
  runner.set_use_interrupt_window(use_interrupt_window);
  PlainRun run;
  run.result = runner.run();
  run.port_writes = std::move(port.writes);
  run.exits = runner.counters();
  return run;
}

std::vector<uint64_t> port_values(const std::vector<PortWrite>& writes) {
  std::vector<uint64_t> values;
  for (const auto& w : writes) {
    if (w.offset == 0) values.push_back(w.value);
  }
  return values;
}

bool exact(const Recording& recording, const Replay& replay) {
  return replay.result.reason == RunResult::Reason::kReplayComplete &&
         replay.port_writes == recording.port_writes;
}

const char* reason_name(RunResult::Reason reason) {
  switch (reason) {
    case RunResult::Reason::kGuestShutdown:
      return "guest-shutdown";
    case RunResult::Reason::kStopRequested:
      return "stop-requested";
    case RunResult::Reason::kFault:
      return "fault";
    case RunResult::Reason::kDivergence:
      return "divergence";
    case RunResult::Reason::kReplayComplete:
      return "replay-complete";
  }
  return "?";
}

std::string summary(const Recording& recording, const Replay& replay) {
  const auto& l = recording.landmarks;
  const auto& s = replay.stats;
  const double hits_per_breakpoint =
      s.breakpoint > 0 ? static_cast<double>(s.breakpoint_hits) / static_cast<double>(s.breakpoint)
                       : 0.0;
  return fmt::format(
      "record: {} E={} {:.3f} s, landmarks {} sync / {} breakpoint / {} checkpoint ({} pages, "
      "{} bytes) / {} counted, {} RAM digests, probes {} ({} breakpoint, {:.1f} hits estimated "
      "each / {} hot "
      "/ {} expired / {} overtaken by an exit); replay: {} E={} {:.3f} s, {} inputs, {} "
      "breakpoint searches, {} hits ({:.1f} per breakpoint landmark, max {}), {} checkpoints "
      "loaded in {:.2f} ms, {} RAM + {} register digests checked; costs {:.1f} us per hit, {:.1f} "
      "us per checkpoint",
      reason_name(recording.result.reason), recording.exit_count, recording.seconds, l.synchronous,
      l.breakpoint, l.checkpoint, l.checkpoint_pages, l.checkpoint_bytes, l.counted,
      l.memory_digests, l.probes, l.probe_breakpoint, l.mean_estimated_hits(), l.probe_checkpoint,
      l.probe_expired, l.probe_overtaken, reason_name(replay.result.reason), replay.exit_count,
      replay.seconds, s.inputs, s.breakpoint, s.breakpoint_hits, hits_per_breakpoint, s.max_hits,
      s.checkpoint, s.checkpoint_load_ms, s.memory_digests, s.register_digests,
      measured_replay_costs(s).breakpoint_hit_us, measured_replay_costs(s).checkpoint_load_us);
}

std::string report_head(const std::string& report, size_t lines) {
  size_t at = 0;
  for (size_t i = 0; i < lines && at != std::string::npos; ++i) {
    at = report.find('\n', at == 0 ? 0 : at + 1);
  }
  return report.substr(0, at);
}

uint64_t input_count(std::span<const TraceEntry> entries) {
  return std::count_if(entries.begin(), entries.end(), [](const TraceEntry& e) {
    return input_position(e).has_value() && !std::holds_alternative<CheckpointEntry>(e);
  });
}

std::optional<uint64_t> divergence_exit(const std::string& report) {
  static const std::regex kFirstLine(R"(^DIVERGENCE at exit E=(\d+):)");
  std::smatch match;
  if (!std::regex_search(report, match, kFirstLine)) return std::nullopt;
  return std::stoull(match[1].str());
}

}  // namespace ftvm::replay::testing
