#include "pair/primary.h"

#include <fmt/format.h>

#include <atomic>

#include "logging_channel/console_writer.h"
#include "logging_channel/disk_gate.h"
#include "logging_channel/lag_tracker.h"
#include "logging_channel/net_gate.h"
#include "logging_channel/output_gate.h"
#include "logging_channel/primary_link.h"
#include "machine/exit_codes.h"
#include "machine/live_net.h"
#include "machine/recorded_machine.h"
#include "machine/vm_session.h"
#include "machine/write_through_console.h"
#include "pair/control_server.h"
#include "pair/pair_side.h"
#include "pair/primary_driver.h"
#include "pair/primary_log.h"
#include "pair/state_sender.h"
#include "pair/transfer_port.h"
#include "replay/output_digest.h"
#include "replay/recorder.h"
#include "replay/recording_time_source.h"
#include "vmm/crash_report.h"
#include "vmm/live_backends.h"
#include "vmm/vcpu_runner.h"
#include "vmm/vm.h"

namespace ftvm {
namespace {

constexpr const char* kSide = "primary";

enum class PrimaryRole { kProtected, kDeciding, kUnprotected, kJoining, kHalted };

const char* role_name(PrimaryRole role) {
  switch (role) {
    case PrimaryRole::kProtected:
      return "primary";
    case PrimaryRole::kDeciding:
      return "primary (backup lost, asking the arbiter)";
    case PrimaryRole::kUnprotected:
      return "primary (unprotected)";
    case PrimaryRole::kJoining:
      return "primary (unprotected, a backup is joining)";
    case PrimaryRole::kHalted:
      return "halted";
  }
  return "?";
}

Result<UniqueFd> open_listener(const PrimaryOptions& options) {
  if (options.listen_fd >= 0) return UniqueFd(options.listen_fd);
  auto at = channel::Endpoint::parse(options.listen);
  if (!at) return at.error();
  return channel::listen_tcp(*at);
}

// Waits for the backup, still answering a stop request (Ctrl-C) while it waits.
Result<UniqueFd> wait_for_backup(int listener, const EventQueue& events, double wait_s) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(wait_s * 1000));
  for (;;) {
    auto socket = channel::accept_tcp(listener, std::chrono::milliseconds(200));
    if (socket) return socket;
    if (auto reason = events.stop_reason()) return make_error("stopped (" + *reason + ")");
    if (std::chrono::steady_clock::now() >= deadline) {
      return make_error(
          fmt::format("no backup connected within {} s (start one with: ftvm "
                      "backup --connect THIS_ADDRESS)",
                      wait_s));
    }
  }
}

// Everything the primary has running, for the control socket's status.
struct PrimaryState {
  const PrimaryOptions& options;
  PrimaryLog& log;
  channel::OutputGate& gate;
  channel::ConsoleWriter& writer;
  channel::LagTracker& lag;
  // The guest's disk writes and transmitted frames, where it has a disk and a network card.
  std::vector<channel::HeldOutput*> held;
  std::atomic<PrimaryRole> role{PrimaryRole::kProtected};
  std::atomic<int> exit_code{-1};
  std::chrono::steady_clock::time_point started;
  // The pair's generation now: --generation, one more with every backup that joined.
  std::atomic<uint64_t> generation{0};
  std::atomic<uint64_t> joins{0};
  std::atomic<uint64_t> backups_diverged{0};
  // The join under way: its latest round, and the pages sent so far.
  std::atomic<uint32_t> transfer_round{0};
  std::atomic<uint64_t> transfer_pages{0};
  uint64_t guest_pages = 0;
};

// The pair's identity at the arbiter now.
PairSideOptions current_pair(const PrimaryState& state) {
  PairSideOptions pair = state.options.pair;
  pair.generation = state.generation.load();
  return pair;
}

nlohmann::json status_json(const PrimaryState& state, uint64_t exit_count) {
  const auto link = state.log.current().stats();
  const auto lag = state.lag.lag_summary();
  const auto hold = state.gate.hold_latency();
  nlohmann::json j =
      side_status(kSide, role_name(state.role.load()), current_pair(state), state.started);
  j["exit_count"] = exit_count;
  j["backups_joined"] = state.joins.load();
  j["backups_diverged"] = state.backups_diverged.load();
  if (state.role.load() == PrimaryRole::kJoining) {
    j["transfer"] = {{"round", state.transfer_round.load()},
                     {"pages_sent", state.transfer_pages.load()},
                     {"guest_pages", state.guest_pages}};
  }
  j["peer"] = link.peer_state;
  j["lag"] = {{"ms", std::chrono::duration<double, std::milli>(state.lag.lag_time()).count()},
              {"exits", state.lag.lag_exits()},
              {"p50_ms", lag.p50_ms},
              {"p99_ms", lag.p99_ms},
              {"max_ms", lag.max_ms}};
  j["log"] = {{"entries", link.entries},
              {"chunks", link.chunks},
              {"frames", link.frames},
              {"bytes_sent", link.bytes_sent},
              {"acked_lsn", link.acked_lsn},
              {"replayed_lsn", link.replayed_lsn},
              {"backpressure_waits", link.backpressure_waits}};
  j["round_trip"] = {{"p50_ms", link.round_trip.p50_ms}, {"p99_ms", link.round_trip.p99_ms}};
  // What --async auto weighs breakpoint against checkpoint with (0: not measured yet).
  j["backup_replay_costs"] = {{"breakpoint_hit_us", link.backup_breakpoint_hit_us},
                              {"checkpoint_load_us", link.backup_checkpoint_load_us}};
  j["outputs"] = {{"held_bytes", state.gate.held_bytes()},
                  {"released_bytes", state.gate.released_bytes()},
                  {"delivered_bytes", state.writer.delivered_bytes()},
                  {"console_backlog_bytes", state.writer.backlog_bytes()},
                  {"discarded_bytes", state.gate.discarded_bytes()},
                  {"hold_p50_ms", hold.p50_ms},
                  {"hold_p99_ms", hold.p99_ms},
                  {"hold_max_ms", hold.max_ms}};
  return j;
}

// The arbiter decides whether this primary may go on without its backup.
void on_backup_lost(PrimaryState& state, EventQueue& events, const std::string& reason) {
  if (reason.find(channel::kDivergedGoodbye) != std::string::npos) state.backups_diverged++;
  state.role.store(PrimaryRole::kDeciding);
  const PairSideOptions pair = current_pair(state);
  log_role(kSide, fmt::format("backup lost ({}); asking the arbiter at {} (generation {})", reason,
                              pair.arbiter, pair.generation));
  auto outcome = ask_arbiter(pair, kSide);
  if (!outcome) {
    state.gate.discard();
    for (channel::HeldOutput* output : state.held) output->discard();
    state.role.store(PrimaryRole::kHalted);
    state.exit_code.store(kExitNoArbiter);
    log_role(kSide, outcome.error().message +
                        "; halting: a side that cannot reach the arbiter never runs alone");
    events.request_stop("halted: the arbiter is unreachable");
    return;
  }
  if (!outcome->won) {
    state.gate.discard();
    for (channel::HeldOutput* output : state.held) output->discard();
    state.role.store(PrimaryRole::kHalted);
    state.exit_code.store(kExitLostArbiter);
    log_role(kSide,
             fmt::format("LOST the arbiter to the {}, which is live; halting", outcome->winner));
    events.request_stop("halted: lost the arbiter's test-and-set");
    return;
  }
  state.gate.open();
  for (channel::HeldOutput* output : state.held) output->open();
  state.role.store(PrimaryRole::kUnprotected);
  log_role(kSide, "WON the arbiter: running on, unprotected");
}

// --- A backup joins the running guest (docs/failover.md, "Re-protection") -----------------

// What a join needs besides PrimaryState: the machine to describe, and the parts of the
// primary that the handover switches over to the new backup.
struct JoinKit {
  channel::FrameKey key;
  channel::PrimaryLinkOptions link_options;
  channel::Hello hello;  // the first backup's: the machine and its image
  const GuestMemory& memory;
  TransferPort& port;
  replay::DigestingConsole& digesting;
  PendingOutput& pending;
  const replay::RecordingTimeSource& time;
  EventQueue& events;
  std::chrono::milliseconds wait_ready;
  // Every joined backup's link, kept to the end: the log may point at any of them.
  std::vector<std::unique_ptr<channel::PrimaryLink>> links;
};

// Why this primary cannot take a backup for `generation` now, if it cannot.
std::optional<std::string> join_refusal(const PrimaryState& state, uint64_t generation) {
  switch (state.role.load()) {
    case PrimaryRole::kUnprotected:
      break;
    case PrimaryRole::kProtected:
      return "this primary has a backup; a backup joins only an unprotected one";
    case PrimaryRole::kJoining:
      return "another backup is joining this primary";
    case PrimaryRole::kDeciding:
    case PrimaryRole::kHalted:
      return fmt::format("this primary is {}", role_name(state.role.load()));
  }
  if (!state.held.empty()) {
    return "this primary's VM has a virtio disk or network card, whose queues a state transfer "
           "does not carry yet";
  }
  PairSideOptions next = current_pair(state);
  next.generation = generation;
  if (auto undecided = check_generation_undecided(next, kSide); !undecided) {
    return undecided.error().message;
  }
  return std::nullopt;
}

// With the guest stopped where the new backup starts: from here on the guest's log goes to
// `link`, its output digests cover what it says from here, and its output waits for that
// backup's acks again.
Result<void> hand_over(PrimaryState& state, JoinKit& kit, channel::PrimaryLink& link,
                       uint64_t generation, channel::StateDone& done) {
  // Produced before the stop, while unprotected: it leaves as it would have.
  if (auto bytes = kit.pending.take(); !bytes.empty()) state.gate.hold(bytes, 0);
  state.log.switch_to(link);
  done.first_lsn = link.next_lsn();
  done.console_input_logged = state.log.console_input_logged();
  done.output_bytes = kit.digesting.bytes();
  kit.digesting.restart_digest(done.output_bytes);
  done.clock_monotonic_ns =
      static_cast<uint64_t>(kit.time.last_value(replay::ClockKind::kMonotonic));
  done.clock_realtime_ns = kit.time.last_value(replay::ClockKind::kRealtime);
  state.gate.protect_again(done.first_lsn);
  state.lag.backup_at(done.exit_count, std::chrono::steady_clock::now());
  state.generation.store(generation);
  return {};
}

// After the handover the new backup is this side's backup, so losing it is losing the backup:
// the arbiter decides (under the new generation) whether the guest runs on.
void lose_joined_backup(PrimaryState& state, JoinKit& kit, channel::PrimaryLink& link,
                        const std::string& reason) {
  link.abandon(reason);
  on_backup_lost(state, kit.events, reason);
}

void join_backup(PrimaryState& state, JoinKit& kit, UniqueFd socket) {
  auto& link = *kit.links.emplace_back(std::make_unique<channel::PrimaryLink>(
      std::move(socket), kit.key, state.gate, state.lag, kit.link_options));
  auto forget = [&kit] { kit.links.pop_back(); };
  const uint64_t generation = state.generation.load() + 1;
  channel::Hello hello = kit.hello;
  hello.generation = generation;
  hello.state_follows = true;
  if (auto r = link.send_hello(hello); !r) {
    log_role(kSide, "a backup tried to join: " + r.error().message);
    return forget();
  }
  PrimaryRole unprotected = PrimaryRole::kUnprotected;
  auto refusal = join_refusal(state, generation);
  if (refusal || !state.role.compare_exchange_strong(unprotected, PrimaryRole::kJoining)) {
    const std::string why = refusal.value_or("this primary's role changed");
    (void)link.send_state(channel::Goodbye{why});
    log_role(kSide, "refused a joining backup: " + why);
    return forget();
  }
  log_role(kSide, fmt::format("a backup is joining as generation {}: sending it the running guest",
                              generation));
  bool switched = false;
  StateSenderOptions options;
  options.before_done = [&](channel::StateDone& done) {
    switched = true;
    return hand_over(state, kit, link, generation, done);
  };
  state.transfer_round.store(0);
  state.transfer_pages.store(0);
  auto send = [&state, &link](const channel::Message& message) {
    if (const auto* pages = std::get_if<channel::StatePages>(&message)) {
      uint64_t count = 0;
      for (const channel::PageRun& run : pages->runs) count += run.pages;
      state.transfer_round.store(pages->round);
      state.transfer_pages.fetch_add(count);
    }
    return link.send_state(message);
  };
  auto report = send_state(kit.memory, kit.port, send, options);
  if (!report && !switched) {
    (void)link.send_state(channel::Goodbye{"the state transfer failed: " + report.error().message});
    state.role.store(PrimaryRole::kUnprotected);
    log_role(kSide, "the state transfer to the joining backup failed (" + report.error().message +
                        "); running on, unprotected");
    return forget();
  }
  if (!report) return lose_joined_backup(state, kit, link, report.error().message);
  if (auto ready = link.await_backup_ready(kit.wait_ready); !ready) {
    return lose_joined_backup(state, kit, link, ready.error().message);
  }
  link.start(
      [&state, &kit](const std::string& reason) { on_backup_lost(state, kit.events, reason); });
  state.joins.fetch_add(1);
  state.role.store(PrimaryRole::kProtected);
  log_role(
      kSide,
      fmt::format("backup joined at exit {}: {} pages in {} rounds, {:.1f} ms, the guest "
                  "paused {:.2f} ms; running, protected (generation {})",
                  report->exit_count, report->pages_sent, report->rounds.size(),
                  std::chrono::duration<double, std::milli>(report->took).count(),
                  std::chrono::duration<double, std::milli>(report->paused).count(), generation));
}

// Accepts backups on the primary's listening socket while the guest runs, one at a time.
class JoinListener {
 public:
  JoinListener(int listener, PrimaryState& state, JoinKit& kit)
      : thread_([this, listener, &state, &kit] {
          while (!quit_.load()) {
            auto socket = channel::accept_tcp(listener, std::chrono::milliseconds(200));
            if (socket && !quit_.load()) join_backup(state, kit, std::move(*socket));
          }
        }) {}
  // `port` refuses from now on, so that a join under way ends.
  void stop(TransferPort& port) {
    quit_.store(true);
    port.close("the primary is stopping");
    if (thread_.joinable()) thread_.join();
  }
  ~JoinListener() {
    quit_.store(true);
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> quit_{false};
  std::thread thread_;
};
}  // namespace

int run_primary(const PrimaryOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  auto accel = choose_accel(options.guest, "primary", /*emu_ready=*/true);
  if (!accel) return fail(accel.error());
  const double max_delay_ms = options.max_delay_ms.value_or(default_max_delay_ms(*accel));
  if (auto undecided = check_generation_undecided(options.pair, kSide); !undecided) {
    return fail(undecided.error());
  }
  auto files = open_live_files(options.guest, options.console, options.input_path);
  if (!files) return fail(files.error());
  // Before any other thread exists: it blocks SIGINT/SIGTERM for the whole process.
  EventQueue events;
  // The disk is opened before the VM, so a bad image is reported as such on any host.
  auto disk_options = side_disk(options.pair, options.guest.disk);
  if (!disk_options) return fail(disk_options.error());
  auto disk = open_live_disk(*disk_options, events);
  if (!disk) return fail(disk.error());
  auto net = open_live_net(options.net, events);
  if (!net) return fail(net.error());
  auto backends = LiveBackends::start(
      events, make_live_options(files->input.get(), options.seconds, max_delay_ms));
  if (!backends) return fail(backends.error());
  auto listener = open_listener(options);
  if (!listener) return fail(listener.error());
  auto listening_at = channel::local_endpoint(listener->get());
  if (!listening_at) return fail(listening_at.error());
  auto key = channel_key(options.pair, *listening_at, "--listen");
  if (!key) return fail(key.error());

  log_role(kSide, "waiting for the backup on " + listening_at->to_string());
  auto socket = wait_for_backup(listener->get(), events, options.wait_backup_s);
  if (!socket) {
    fmt::print(stderr, "ftvm: {}\n", socket.error().message);
    return kExitPeer;
  }
  log_role(kSide, "backup connected; sending it the VM");

  FileConsole file_console(files->output.get());
  WriteThroughConsole console(file_console);
  // Released output waits for its reader on the writer's thread, never on the link's.
  channel::ConsoleWriter writer(console);
  channel::OutputGate gate(writer);
  PendingOutput pending;
  replay::DigestingConsole digesting(pending);
  channel::LagTracker lag;
  // The backup's acks report what its landmarks cost to replay; the recorder's probes weigh
  // breakpoint against checkpoint with them.
  replay::ReplayCostModel replay_costs;
  channel::PrimaryLinkOptions link_options;
  link_options.timeouts = link_timeouts(options.pair);
  link_options.replay_costs = &replay_costs;
  link_options.delivered_output_bytes = [&writer] { return writer.delivered_bytes(); };
  // The guest's disk writes are outputs too: they wait for the same acks and the same lease.
  // So are its transmitted frames.
  const auto lease_holds = [&gate] { return gate.lease_holds(std::chrono::steady_clock::now()); };
  std::optional<channel::DiskGate> disk_gate;
  std::optional<channel::NetGate> net_gate;
  std::vector<channel::HeldOutput*> held;
  if (*disk) held.push_back(&disk_gate.emplace(*(*disk)->backend, lease_holds));
  if (*net) held.push_back(&net_gate.emplace(*(*net)->tap, lease_holds));
  link_options.on_acked = [&held](uint64_t acked) {
    for (channel::HeldOutput* output : held) output->release_through(acked);
  };
  channel::PrimaryLink link(std::move(*socket), *key, gate, lag, link_options);
  PrimaryLog log(link);
  HostTimeSource host_time;
  replay::RecordingTimeSource time(host_time, log);
  VmConfig config = make_vm_config(options.guest, files->image);
  config.accel = *accel;
  // A backup may join later (after this one is lost): its state transfer reads the dirty log.
  config.track_dirty_pages = true;
  auto vm = Vm::create(config, time, digesting);
  if (!vm) return fail(vm.error());
  const replay::RecordOptions record_options = live_record_options(
      (*vm)->accel(), options.async_mode, max_delay_ms, std::chrono::milliseconds(500),
      options.guest.kvm_device, options.interrupt_window != "off");
  replay::TraceHeader machine =
      make_trace_header(options.guest, files->image, **vm, max_delay_ms, options.async_mode);
  machine.interrupt_window = record_options.interrupt_window;
  if (disk_gate) {
    if (auto r = (*vm)->platform().attach_disk((*vm)->memory(), *disk_gate, (*disk)->device); !r) {
      return fail(r.error());
    }
    machine.disk_bytes = (*disk)->device.capacity_bytes;
    machine.disk_read_only = (*disk)->device.read_only;
    machine.disk_serial = (*disk)->device.serial;
  }
  if (net_gate) {
    if (auto r = (*vm)->platform().attach_net((*vm)->memory(), *net_gate, (*net)->mac); !r) {
      return fail(r.error());
    }
    machine.net_mac.assign((*net)->mac.begin(), (*net)->mac.end());
  }
  auto header = replay::encode_trace_header(machine);
  if (!header) return fail(header.error());
  channel::Hello hello{channel::kProtocolVersion, options.pair.vm_id, options.pair.generation,
                       std::move(*header), files->image.bytes};
  if (auto r = link.send_hello(hello); !r) {
    fmt::print(stderr, "ftvm: {}\n", r.error().message);
    return kExitPeer;
  }

  if (auto r = link.await_backup_ready(
          std::chrono::milliseconds(static_cast<int64_t>(options.wait_backup_s * 1000)));
      !r) {
    fmt::print(stderr, "ftvm: {}\n", r.error().message);
    return kExitPeer;
  }
  // Designated: a `{}` for exit_code would make it 0, "decided", instead of its -1.
  PrimaryState state{.options = options,
                     .log = log,
                     .gate = gate,
                     .writer = writer,
                     .lag = lag,
                     .held = held,
                     .started = started};
  state.generation.store(options.pair.generation);
  state.guest_pages = (*vm)->memory().size() / channel::kTransferPageBytes;
  auto control = start_side_control(
      options.pair, kSide, [&] { return status_json(state, log.current().exit_count()); },
      [&] { log.current().cut(); },
      {{"corrupt-log", [&log](const std::string&) {
          log.corrupt_next_output_digest();
          log_role(kSide, "the next output digest goes to the backup altered (fault injection)");
          return std::string("the next output digest will be altered\n");
        }}});
  if (!control) return fail(control.error());

  replay::Recorder recorder(events, log, **vm, digesting, record_options);
  connect_recorder(recorder, **backends);
  recorder.set_cost_model(&replay_costs);
  PrimaryDriver driver(recorder, log, pending, gate, writer, lag,
                       std::chrono::milliseconds(static_cast<int64_t>(options.max_lag_ms)), held);
  VcpuRunner runner((*vm)->vcpu(), (*vm)->platform(), driver);
  runner.set_use_interrupt_window(record_options.interrupt_window);
  time.set_exit_count([&runner] { return runner.exit_count(); });
  TransferPort transfer_port(**vm, [&runner] { runner.kick(); });
  driver.set_transfer_port(&transfer_port);
  JoinKit kit{*key,
              link_options,
              hello,
              (*vm)->memory(),
              transfer_port,
              digesting,
              pending,
              time,
              events,
              std::chrono::milliseconds(static_cast<int64_t>(options.wait_backup_s * 1000)),
              {}};
  link.start([&](const std::string& reason) { on_backup_lost(state, events, reason); });
  log_role(kSide, "running, protected");
  JoinListener joins(listener->get(), state, kit);
  const RunResult result = run_live(runner, events, **backends);
  joins.stop(transfer_port);

  if (result.reason == RunResult::Reason::kFault) {
    fmt::print(stderr, "ftvm: guest fault: {}\n{}", result.detail,
               crash_report((*vm)->vcpu(), (*vm)->memory(), runner.last_seen_registers()));
  }
  if (auto r = recorder.finish(runner, result); !r)
    fmt::print(stderr, "ftvm: {}\n", r.error().message);
  // A backup lost while the guest ran may still have the link thread asking the arbiter: its
  // verdict decides the exit code, and its callback uses `state`, so wait for it.
  if (log.current().lost()) {
    log.current().stop();
  } else {
    log.current().goodbye(result.detail);
  }
  if (const uint64_t held = gate.held_bytes(); held > 0) {
    fmt::print(stderr,
               "ftvm: {} bytes of guest output were never acknowledged by a backup and "
               "stay withheld\n",
               held);
    gate.discard();
  }
  if (disk_gate && disk_gate->stats().held > 0 && state.role.load() != PrimaryRole::kUnprotected) {
    fmt::print(stderr,
               "ftvm: {} disk writes were never acknowledged by a backup and were not issued\n",
               disk_gate->stats().held);
    disk_gate->discard();
  }
  writer.drain();
  file_console.flush();
  control->reset();

  const RunReport report = make_report(result, started, file_console, runner.counters());
  print_report(report);
  auto json = report_json(report);
  json["pair"] = status_json(state, runner.exit_count());
  json["throttled_ms"] = driver.throttled().count();
  json["console_waited_ms"] = driver.console_waited().count();
  if (auto r = write_json(options.console.stats_json_path, json); !r) return fail(r.error());
  const int override_code = state.exit_code.load();
  return override_code >= 0 ? override_code : exit_code_for(result);
}

}  // namespace ftvm
