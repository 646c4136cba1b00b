#include "pair/backup.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <thread>

#include "logging_channel/backup_link.h"
#include "logging_channel/console_writer.h"
#include "logging_channel/cutover_console.h"
#include "logging_channel/disk_gate.h"
#include "logging_channel/lag_tracker.h"
#include "logging_channel/net_gate.h"
#include "logging_channel/output_gate.h"
#include "logging_channel/tcp.h"
#include "machine/exit_codes.h"
#include "machine/live_net.h"
#include "machine/recorded_machine.h"
#include "machine/vm_session.h"
#include "machine/write_through_console.h"
#include "pair/backup_driver.h"
#include "pair/control_server.h"
#include "pair/join_service.h"
#include "pair/pair_side.h"
#include "pair/primary_driver.h"
#include "pair/primary_log.h"
#include "pair/protection.h"
#include "pair/state_receiver.h"
#include "pair/transfer_port.h"
#include "replay/log_feed.h"
#include "replay/output_digest.h"
#include "replay/recorder.h"
#include "replay/replay_time_source.h"
#include "replay/replayer.h"
#include "vmm/live_backends.h"
#include "vmm/periodic_kick.h"
#include "vmm/vcpu_runner.h"
#include "vmm/vm.h"

namespace ftvm {
namespace {

constexpr const char* kSide = "backup";

enum class BackupRole { kReplaying, kDeciding, kLive, kHalted, kEnded };

const char* role_name(BackupRole role) {
  switch (role) {
    case BackupRole::kReplaying:
      return "backup";
    case BackupRole::kDeciding:
      return "backup (primary lost, finishing the log)";
    case BackupRole::kLive:
      return "primary (live after failover)";  // Protection says more
    case BackupRole::kHalted:
      return "halted";
    case BackupRole::kEnded:
      return "ended";
  }
  return "?";
}

// What outlives one session of a backup: a resync starts a new session (a new VM, link and
// replay) in the same process, with the same console, input and join listener.
struct BackupProcess {
  std::chrono::steady_clock::time_point started;
  UniqueFd output;
  UniqueFd input;
  std::optional<ChannelListener> join_listener;
  std::atomic<uint64_t> divergences{0};
  std::atomic<uint64_t> resyncs{0};
};

struct BackupState {
  const BackupOptions& options;
  const BackupProcess& process;
  channel::BackupLink& link;
  channel::CutoverConsole& console;
  // Once live: whether a backup protects this side's guest now.
  const Protection& protection;
  std::atomic<BackupRole> role{BackupRole::kReplaying};
  std::atomic<int> exit_code{-1};
  std::atomic<uint64_t> live_at_exit{0};
};

nlohmann::json status_json(const BackupState& state) {
  const auto link = state.link.stats();
  const bool live = state.role.load() == BackupRole::kLive;
  nlohmann::json j = live ? side_status(kSide, protection_role_name(state.protection.role()),
                                        state.protection.current_pair(), state.process.started)
                          : side_status(kSide, role_name(state.role.load()), state.options.pair,
                                        state.process.started);
  j["exit_count"] = link.exit_count;
  j["peer"] = link.peer_state;
  j["log"] = {{"received_lsn", link.received_lsn},
              {"replayed_lsn", link.replayed_lsn},
              {"chunks", link.chunks},
              {"bytes_received", link.bytes_received},
              {"link_thread_nice", link.link_thread_nice}};
  j["primary_exit_count"] = link.primary_exit_count;
  // Each divergence is followed by a resync: a fresh copy of the primary's guest.
  j["divergences"] = state.process.divergences.load();
  j["resyncs"] = state.process.resyncs.load();
  // Once live: the console input its guest got through the primary's log (ftvm pair gives it
  // the rest of what the primary was given).
  j["input"] = {{"from_log_bytes", link.console_input_bytes}};
  // Once live, the backup that joined it (if any): its link, its lag, this side's gate.
  if (live) state.protection.add_status(j);
  j["outputs"]["produced_bytes"] = state.console.produced();
  j["outputs"]["primary_released_bytes"] = link.released_output_bytes;
  const auto resumed = state.console.resumed_at();
  j["output_resumed_at"] = resumed ? nlohmann::json(*resumed) : nlohmann::json(nullptr);
  return j;
}

struct Peer {
  channel::Endpoint at;
  channel::FrameKey key;
};

bool joining(const BackupOptions& options) {
  return !options.join.empty();
}

// Bad options are a setup error (exit 2); a primary that does not answer is a peer error.
Result<Peer> resolve_primary(const BackupOptions& options) {
  auto at = channel::Endpoint::parse(joining(options) ? options.join : options.connect);
  if (!at) return at.error();
  auto key = channel_key(options.pair, *at, joining(options) ? "--join" : "--connect");
  if (!key) return key.error();
  return Peer{std::move(*at), std::move(*key)};
}

// Whether this backup starts with the primary's guest (--connect) or joins it running (--join),
// the primary's hello must say the same. A joining backup takes the generation the primary
// gives it.
Result<void> check_join(const BackupOptions& options, const channel::Hello& hello) {
  if (hello.state_follows && !joining(options)) {
    return make_error(
        "the primary's guest is running already (it lost its backup): start this backup with "
        "--join instead of --connect to join it by state transfer");
  }
  if (!hello.state_follows && joining(options)) {
    return make_error(
        "the primary waits for the backup it starts its guest with: start this backup with "
        "--connect instead of --join");
  }
  return {};
}

Result<replay::TraceHeader> check_hello(const BackupOptions& options, const channel::Hello& hello) {
  if (auto r = check_join(options, hello); !r) return r.error();
  if (hello.vm_id != options.pair.vm_id || hello.generation != options.pair.generation) {
    return make_error(fmt::format(
        "the primary protects VM {} generation {}, but this backup was started for VM {} "
        "generation {} (--vm-id, --generation)",
        hello.vm_id, hello.generation, options.pair.vm_id, options.pair.generation));
  }
  auto header = replay::decode_trace_header(hello.trace_header);
  if (!header) return make_error("the primary's machine description: " + header.error().message);
  if (XXH3_64bits(hello.guest_image.data(), hello.guest_image.size()) != header->guest_image_xxh3) {
    return make_error("the guest image the primary sent does not match its own checksum");
  }
  if (header->disk_bytes != 0 && options.disk.source.empty()) {
    return make_error(fmt::format(
        "the primary's VM has a disk ({} bytes): start the backup with --disk naming the same "
        "disk (the image file or NBD export the primary uses), so that it can take over",
        header->disk_bytes));
  }
  if (header->disk_bytes == 0 && !options.disk.source.empty()) {
    return make_error("--disk: the primary's VM has no disk");
  }
  if (!header->net_mac.empty() && options.net.spec.empty()) {
    return make_error(
        "the primary's VM has a network card: start the backup with --net tap:NAME (or "
        "libvirt:NETWORK) on the same network (scripts/lab: tap1), so that it can take over");
  }
  if (header->net_mac.empty() && !options.net.spec.empty()) {
    return make_error("--net: the primary's VM has no network card");
  }
  if (auto r = check_accel_matches(options.accel, *header, "primary"); !r) return r.error();
  return header;
}

// A joining backup: the running guest's state, received into `vm` (docs/failover.md,
// "Re-protection").
Result<StateReceiver> receive_running_guest(channel::BackupLink& link, Vm& vm) {
  StateReceiver receiver(vm);
  // Generous per message: a pre-copy round of a large guest on a slow link sends often, but
  // the primary may throttle and retry its stop for a while.
  constexpr std::chrono::seconds kPerMessage{60};
  for (;;) {
    auto message = link.receive_state(kPerMessage);
    if (!message) return message.error();
    auto complete = receiver.apply(*message);
    if (!complete) return complete.error();
    if (*complete) return receiver;
  }
}

// Where backups join this side once it is live (--listen, --listen-fd), if anywhere.
Result<std::optional<ChannelListener>> open_join_listener(const BackupOptions& options) {
  if (options.listen.empty() && options.listen_fd < 0) return std::optional<ChannelListener>{};
  auto listener = open_channel_listener(options.pair, options.listen, options.listen_fd);
  if (!listener) return listener.error();
  return std::optional<ChannelListener>{std::move(*listener)};
}

// Once live this side records as its primary did: the same landmark mode and delivery of
// blocked interrupts (where this host allows it), so that its own backups can follow.
replay::RecordOptions live_side_record_options(const replay::TraceHeader& header, Accel accel,
                                               double max_delay_ms, const std::string& kvm_device) {
  const std::string mode =
      replay::parse_async_mode(header.async_mode) ? header.async_mode : std::string("auto");
  return live_record_options(accel, mode, max_delay_ms, std::chrono::milliseconds(500), kvm_device,
                             header.interrupt_window);
}

// What a backup that joins this side is told: the primary's machine, as this side records it.
Result<channel::Hello> hello_for_joiners(const channel::Hello& primary_hello,
                                         replay::TraceHeader header,
                                         const replay::RecordOptions& record_options) {
  header.interrupt_window = record_options.interrupt_window;
  auto encoded = replay::encode_trace_header(header);
  if (!encoded) return encoded.error();
  channel::Hello hello = primary_hello;
  hello.trace_header = std::move(*encoded);
  return hello;
}

// The report outlives the process: `ftvm pair` keeps it in its run directory. A process that
// resynced and diverged again adds its next report after the first.
void keep_divergence_report(const std::string& path, const std::string& report, uint64_t number) {
  if (path.empty()) return;
  std::ofstream out(path, number == 1 ? std::ios::trunc : std::ios::app);
  if (number > 1)
    out << fmt::format("\n--- divergence {} (after {} resyncs) ---\n", number, number - 1);
  out << report;
  out.close();
  if (!out) fmt::print(stderr, "ftvm: cannot write the divergence report to {}\n", path);
}

// How one session ended.
struct SessionEnd {
  int exit_code = kExitOk;
  // The replay diverged while the primary ran on: the process may resync.
  bool diverged = false;
  // It got as far as replaying (a join that was refused or failed did not).
  bool replayed = false;
};

SessionEnd ended_with(int exit_code) {
  return SessionEnd{exit_code, false, false};
}

// One backup of one primary: connect (or join), replay, maybe go live, until it ends.
// `resync`: this session replaces one that diverged.
SessionEnd run_session(BackupOptions options, BackupProcess& process, bool resync) {
  // Before any other thread exists: it blocks SIGINT/SIGTERM for the whole process. Its timer
  // stays unarmed until the backup goes live.
  EventQueue events;
  // Input typed to a backup before it is live must not reach its guest: while it replays, the
  // guest's input is the primary's, from the log.
  LiveBackends::Options live_options =
      // The backend is known only from the primary's hello; until then, KVM's default.
      make_live_options(process.input.get(), std::nullopt,
                        options.max_delay_ms.value_or(default_max_delay_ms(Accel::kKvm)));
  live_options.input_paused = true;
  auto backends = LiveBackends::start(events, live_options);
  if (!backends) return ended_with(fail(backends.error()));
  // Opened now, so that a wrong disk is said before the pair starts; nothing is read or written
  // until this side goes live.
  auto disk_options = side_disk(options.pair, options.disk);
  if (!disk_options) return ended_with(fail(disk_options.error()));
  auto disk = open_live_disk(*disk_options, events);
  if (!disk) return ended_with(fail(disk.error()));
  auto primary = resolve_primary(options);
  if (!primary) return ended_with(fail(primary.error()));
  std::optional<ChannelListener>& join_listener = process.join_listener;
  log_role(kSide, "connecting to the primary at " + primary->at.to_string());
  auto socket = channel::connect_tcp(
      primary->at,
      std::chrono::milliseconds(static_cast<int64_t>(options.connect_timeout_s * 1000)));
  if (!socket) {
    fmt::print(stderr, "ftvm: {}\n", socket.error().message);
    return ended_with(kExitPeer);
  }
  replay::LogFeed feed;
  channel::BackupLink link(std::move(*socket), primary->key, feed, link_timeouts(options.pair));
  auto hello = link.receive_hello(std::chrono::seconds(30));
  if (!hello) {
    fmt::print(stderr, "ftvm: {}\n", hello.error().message);
    return ended_with(kExitPeer);
  }
  if (joining(options)) options.pair.generation = hello->generation;
  auto header = check_hello(options, *hello);
  if (header && joining(options)) {
    if (auto undecided = check_generation_undecided(options.pair, kSide); !undecided) {
      header = undecided.error();
    }
  }
  if (header && *disk && (*disk)->device.capacity_bytes != header->disk_bytes) {
    header = make_error(
        fmt::format("--disk {} has {} bytes, the primary's disk {}: not the same "
                    "disk",
                    options.disk.source, (*disk)->device.capacity_bytes, header->disk_bytes));
  }
  if (!header) {
    link.goodbye(header.error().message);
    fmt::print(stderr, "ftvm: {}\n", header.error().message);
    return ended_with(kExitPeer);
  }
  // Opened once the primary's card is known (a libvirt port carries its MAC). Standing by:
  // nothing received is the guest's input, nothing it sends leaves, until live.
  NetOptions net_options = options.net;
  if (header->net_mac.size() == 6) {
    VirtioNet::Mac primary_mac{};
    std::copy(header->net_mac.begin(), header->net_mac.end(), primary_mac.begin());
    net_options.mac = format_mac(primary_mac);
  }
  auto net = open_live_net(net_options, events, TapBackend::Mode::kStandingBy);
  if (!net) {
    link.goodbye(net.error().message);
    return ended_with(fail(net.error()));
  }

  FileConsole file_console(process.output.get());
  WriteThroughConsole console(file_console);
  // Once live, output leaves as on a primary: through the gate, at once while no backup
  // protects this side, after its acks once one joined; and never on the vCPU thread.
  channel::ConsoleWriter writer(console);
  channel::OutputGate gate(writer);
  gate.open();
  // The disk's writes likewise, once live: through a gate of their own that the console's lease
  // governs (a backup that goes live issues, through it, what the log left unfinished).
  const auto lease_holds = [&gate] { return gate.lease_holds(std::chrono::steady_clock::now()); };
  std::optional<channel::DiskGate> disk_gate;
  std::optional<channel::NetGate> net_gate;
  std::vector<channel::HeldOutput*> held;
  if (*disk) held.push_back(&disk_gate.emplace(*(*disk)->backend, lease_holds));
  if (*net) {
    held.push_back(&net_gate.emplace(*(*net)->tap, lease_holds));
    net_gate->stand_by();  // until live
  }
  PendingOutput pending;
  channel::CutoverConsole cutover(pending, [&link] { return link.released_output_bytes(); });
  replay::DigestingConsole digesting(cutover);
  replay::ReplayTimeSource time;
  HostTimeSource host_time;
  // No backup of this side's own until one joins it; its clock reads once live are logged.
  PrimaryLog log;
  time.record_live_reads(log);
  VmConfig config = vm_config_for(*header, hello->guest_image, options.kvm_device);
  // Once live this side records: on KVM its checkpoints read the dirty log, and so does the
  // state transfer to a backup that joins it.
  config.track_dirty_pages =
      join_listener.has_value() || may_checkpoint(config.accel, header->async_mode);
  auto vm = Vm::create(config, time, digesting);
  if (!vm) return ended_with(fail(vm.error()));
  if (auto r = check_interrupt_window(*header, (*vm)->accel(), options.kvm_device, "primary"); !r) {
    link.goodbye(r.error().message);
    return ended_with(fail(r.error()));
  }
  const double max_delay_ms = options.max_delay_ms.value_or(default_max_delay_ms((*vm)->accel()));
  const replay::RecordOptions record_options =
      live_side_record_options(*header, (*vm)->accel(), max_delay_ms, options.kvm_device);
  auto joiners_hello = hello_for_joiners(*hello, *header, record_options);
  if (!joiners_hello) return ended_with(fail(joiners_hello.error()));
  // While replaying, the disk's answers come from the log; what it leaves unfinished is issued
  // again when this side goes live.
  replay::LoggedDisk logged_disk;
  if (auto r = attach_logged_disk(**vm, *header, logged_disk); !r)
    return ended_with(fail(r.error()));
  // The card's frames go through its gate, which drops them while this side stands by.
  if (net_gate) {
    if (auto r = attach_logged_net(**vm, *header, *net_gate); !r)
      return ended_with(fail(r.error()));
  }
  std::optional<StateReceiver> joined;
  if (joining(options)) {
    log_role(kSide, fmt::format("joining VM {} as generation {}: receiving the running guest",
                                options.pair.vm_id, options.pair.generation));
    if (auto ready = link.ready_for_state(); !ready) {
      fmt::print(stderr, "ftvm: {}\n", ready.error().message);
      return ended_with(kExitPeer);
    }
    auto received = receive_running_guest(link, **vm);
    if (!received) {
      link.goodbye(received.error().message);
      fmt::print(stderr, "ftvm: {}\n", received.error().message);
      return ended_with(kExitPeer);
    }
    joined.emplace(std::move(*received));
    if (resync) ++process.resyncs;
    // Requests the primary's disk had not completed: issued again if this side goes live first.
    for (const BlockRequest& request : joined->unfinished_disk_requests()) {
      logged_disk.submit(request);
    }
    // The log, the console stream and the output digests go on from the handover.
    link.begin_log_at(joined->first_lsn(), joined->console_input_logged());
    cutover.start_at(joined->output_bytes());
    digesting.restart_digest(joined->output_bytes());
    time.continue_after(static_cast<int64_t>(joined->clock_monotonic_ns()),
                        joined->clock_realtime_ns());
    log_role(kSide, fmt::format("received the guest at exit {}: {} pages in {} rounds, {} bytes of "
                                "console input waiting{}",
                                joined->exit_count(), joined->pages(), joined->rounds(),
                                joined->console_input_bytes(),
                                (*disk) ? fmt::format(", {} disk requests in flight",
                                                      joined->unfinished_disk_requests().size())
                                        : std::string()));
  }
  replay::Replayer replayer(feed, host_time, **vm, time, digesting);
  replayer.set_resume_flag(replay_resume_flag((*vm)->accel(), options.kvm_device));
  // What this side becomes once live: a primary that records its guest for the backups that
  // join it (docs/failover.md, "Re-protection after a failover").
  channel::LagTracker lag;
  Protection protection(options.pair, kSide, GuardedOutputs{log, gate, writer, lag, held}, events,
                        ProtectionRole::kUnprotected);
  // Its backups' acks report what their landmarks cost to replay, as on a primary.
  replay::ReplayCostModel replay_costs;
  replay::Recorder recorder(events, log, **vm, digesting, record_options);
  connect_recorder(recorder, **backends);
  recorder.set_cost_model(&replay_costs);
  PrimaryDriver recording(recorder, log, pending, gate, writer, lag,
                          std::chrono::milliseconds(static_cast<int64_t>(options.max_lag_ms)),
                          held);
  // Designated: a `{}` for exit_code would make it 0, "decided", instead of its -1.
  BackupState state{.options = options,
                    .process = process,
                    .link = link,
                    .console = cutover,
                    .protection = protection};
  install_kick_signal_handler();
  std::optional<PeriodicKick> watchdog;
  // Started once live (on the vCPU thread, with the guest between exits).
  std::optional<JoinService> joins;
  channel::PrimaryLinkOptions join_link_options;
  join_link_options.timeouts = link_timeouts(options.pair);
  join_link_options.replay_costs = &replay_costs;
  join_link_options.delivered_output_bytes = [&writer] { return writer.delivered_bytes(); };
  // A joined backup's acks release the disk writes held for it, as the console's.
  join_link_options.on_acked = [&held](uint64_t acked) {
    for (channel::HeldOutput* output : held) output->release_through(acked);
  };
  // Built with the runner, whose vCPU it stops for a transfer.
  std::optional<TransferPort> transfer_port;
  auto accept_joins = [&] {
    if (!join_listener) {
      log_role(kSide, "no --listen: running on unprotected, no backup can join this side");
      return;
    }
    log_role(kSide, "new backups join this side on " + join_listener->address);
    joins.emplace(join_listener->fd.get(), protection,
                  JoinParts{join_listener->key, join_link_options, *joiners_hello, (*vm)->memory(),
                            *transfer_port, digesting, pending,
                            [&time](replay::ClockKind clock) { return time.last_value(clock); },
                            std::chrono::seconds(30)});
  };

  auto go_live = [&](VcpuRunner& runner) -> std::optional<RunResult> {
    log_role(kSide, fmt::format("replayed the whole log, to exit {}; asking the arbiter at {}",
                                runner.exit_count(), options.pair.arbiter));
    auto outcome = ask_arbiter(options.pair, kSide);
    if (!outcome || !outcome->won) {
      state.role.store(BackupRole::kHalted);
      state.exit_code.store(outcome ? kExitLostArbiter : kExitNoArbiter);
      const std::string why =
          outcome
              ? fmt::format("LOST the arbiter to the {}, which is live; halting", outcome->winner)
              : outcome.error().message +
                    "; halting: a side that cannot reach the arbiter never goes live";
      log_role(kSide, why);
      return RunResult{RunResult::Reason::kStopRequested, 0, why};
    }
    watchdog.reset();
    const uint64_t resumed_at = cutover.go_live();
    if (*disk) {
      disk_gate->open();
      const size_t reissued = logged_disk.go_live(*disk_gate);
      log_role(kSide, fmt::format("the disk is live: {} requests the log left unfinished issued "
                                  "again",
                                  reissued));
    }
    if (*net) {
      VirtioNet::Mac mac{};
      std::copy(header->net_mac.begin(), header->net_mac.end(), mac.begin());
      (*net)->tap->go_live(mac);
      net_gate->open();
      log_role(kSide, fmt::format("the network is live on {}: announced {}", (*net)->tap->name(),
                                  format_mac(mac)));
    }
    // On the software CPU an interrupted position costs nothing to keep: events go at once
    // (docs/architecture.md, "Synchronous landmark"), as on a primary there.
    if (!options.max_delay_ms && default_max_delay_ms((*vm)->accel()) == 0) {
      events.set_deferred_kick(false);
    }
    events.set_kick([&runner] { runner.kick(); });
    runner.on_pit_schedule_change(
        [&backends](const PitTimerSchedule& s) { (*backends)->schedule_pit(s); });
    (*backends)->schedule_pit(runner.platform().pit().timer_schedule());
    (*backends)->resume_input();
    runner.set_use_interrupt_window(record_options.interrupt_window);
    // The guest's log goes on from here, counting its console input as the pair does.
    log.begin_at(replayer.consumed_lsn(), link.stats().console_input_bytes);
    state.live_at_exit.store(runner.exit_count());
    state.role.store(BackupRole::kLive);
    log_role(kSide, fmt::format("WON the arbiter: live at exit {}, console output resumes at "
                                "byte {}",
                                runner.exit_count(), resumed_at));
    accept_joins();
    return std::nullopt;
  };
  BackupDriver driver(replayer, link, recording, go_live);
  VcpuRunner runner((*vm)->vcpu(), (*vm)->platform(), driver);
  transfer_port.emplace(**vm, [&runner] { runner.kick(); });
  if (disk_gate) {
    transfer_port->set_unfinished_disk_requests([&disk_gate] { return disk_gate->unfinished(); });
  }
  recording.set_transfer_port(&*transfer_port);
  runner.set_use_interrupt_window(header->interrupt_window);
  if (joined) runner.resume_at(joined->resume_point());
  time.set_exit_count([&runner] { return runner.exit_count(); });

  auto control = start_side_control(
      options.pair, kSide, [&] { return status_json(state); }, [&] { link.cut(); });
  if (!control) return ended_with(fail(control.error()));
  link.start([&](const std::string& reason) {
    state.role.store(BackupRole::kDeciding);
    log_role(kSide, "primary lost (" + reason + "); finishing its log");
  });
  log_role(kSide, fmt::format("replaying VM {} generation {} from the primary", options.pair.vm_id,
                              options.pair.generation));
  watchdog.emplace(runner, std::chrono::milliseconds(200));
  // While replaying, the vCPU waits on the log, not on the event queue: a stop request
  // (Ctrl-C) reaches it through the feed.
  events.set_stop_listener([&feed](const std::string& reason) { feed.request_stop(reason); });
  RunResult result = runner.run();
  events.set_stop_listener(nullptr);
  watchdog.reset();
  events.set_kick(nullptr);
  if (!driver.live()) result = replayer.conclude(runner, result);
  if (state.role.load() != BackupRole::kHalted && !driver.live()) {
    state.role.store(BackupRole::kEnded);
  }
  const bool diverged = result.reason == RunResult::Reason::kDivergence;
  // A primary that still runs can give this process a fresh copy of its guest.
  const bool diverged_under_running_primary = diverged && !link.lost() && !driver.live();
  if (diverged) {
    fmt::print(stderr, "ftvm: backup: {}", result.detail);
    keep_divergence_report(options.divergence_report_path, result.detail, ++process.divergences);
  }
  if (!link.lost()) {
    // One line: the whole report is this side's to print, not the primary's.
    const std::string first_line = result.detail.substr(0, result.detail.find('\n'));
    link.goodbye(result.reason == RunResult::Reason::kDivergence
                     ? std::string(channel::kDivergedGoodbye) + first_line
                     : first_line);
  }
  if (joins) joins->stop();
  if (driver.live()) {
    // Its own backup, if one joined, verifies the guest to the end, as a primary's does.
    if (auto r = recorder.finish(runner, result); !r) {
      fmt::print(stderr, "ftvm: {}\n", r.error().message);
    }
    protection.end(result.detail);
  }
  writer.drain();
  file_console.flush();
  control->reset();

  const RunReport report = make_report(result, process.started, file_console, runner.counters());
  print_report(report);
  auto json = report_json(report);
  json["pair"] = status_json(state);
  if (auto r = write_json(options.console.stats_json_path, json); !r) {
    return ended_with(fail(r.error()));
  }
  // Once live, a lost backup of its own may have made the arbiter halt this side.
  const int override_code =
      protection.exit_code() >= 0 ? protection.exit_code() : state.exit_code.load();
  SessionEnd end;
  end.exit_code = override_code >= 0 ? override_code : exit_code_for(result);
  end.diverged = diverged_under_running_primary;
  end.replayed = true;
  return end;
}

// A resync's join, tried again while the primary is still deciding that its diverged backup is
// lost (it refuses joiners until then), with a growing pause.
constexpr int kResyncAttempts = 8;
constexpr double kResyncConnectTimeoutS = 2;

}  // namespace

int run_backup(const BackupOptions& given) {
  BackupOptions options = given;
  if (!joining(options)) {
    if (auto undecided = check_generation_undecided(options.pair, kSide); !undecided) {
      return fail(undecided.error());
    }
  }
  BackupProcess process;
  process.started = std::chrono::steady_clock::now();
  auto output = open_console_output(options.console.console_path);
  if (!output) return fail(output.error());
  process.output = std::move(*output);
  auto input = open_console_input(options.input_path);
  if (!input) return fail(input.error());
  process.input = std::move(*input);
  auto join_listener = open_join_listener(options);
  if (!join_listener) return fail(join_listener.error());
  process.join_listener = std::move(*join_listener);

  SessionEnd end = run_session(options, process, /*resync=*/false);
  while (end.diverged && options.resync) {
    // The primary ran on and serves its clients; it takes this process back as a backup that
    // joins it, with a fresh copy of its guest (docs/failover.md, "Resync after a divergence").
    if (options.join.empty()) options.join = options.connect;
    // It ran a moment ago: a primary that does not answer now is gone, not starting.
    options.connect_timeout_s = std::min(options.connect_timeout_s, kResyncConnectTimeoutS);
    log_role(kSide, fmt::format("diverged (divergence {}): asking the primary at {} for a fresh "
                                "copy of its guest (resync)",
                                process.divergences.load(), options.join));
    for (int attempt = 1;; ++attempt) {
      end = run_session(options, process, /*resync=*/true);
      if (end.replayed || attempt == kResyncAttempts) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100) * attempt);
    }
    if (!end.replayed) {
      fmt::print(stderr, "ftvm: backup: the resync failed {} times in a row; giving up\n",
                 kResyncAttempts);
      return kExitDivergence;
    }
  }
  return end.exit_code;
}

}  // namespace ftvm
