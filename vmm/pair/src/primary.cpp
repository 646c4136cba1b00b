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
#include "pair/join_service.h"
#include "pair/pair_side.h"
#include "pair/primary_driver.h"
#include "pair/primary_log.h"
#include "pair/protection.h"
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

nlohmann::json status_json(const Protection& protection,
                           std::chrono::steady_clock::time_point started, uint64_t exit_count) {
  nlohmann::json j = side_status(kSide, protection_role_name(protection.role()),
                                 protection.current_pair(), started);
  j["exit_count"] = exit_count;
  protection.add_status(j);
  return j;
}
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
  auto listener = open_channel_listener(options.pair, options.listen, options.listen_fd);
  if (!listener) return fail(listener.error());
  const channel::FrameKey& key = listener->key;

  log_role(kSide, "waiting for the backup on " + listener->address);
  auto socket = wait_for_backup(listener->fd.get(), events, options.wait_backup_s);
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
  channel::PrimaryLink link(std::move(*socket), key, gate, lag, link_options);
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
  Protection protection(options.pair, kSide, GuardedOutputs{log, gate, writer, lag, held}, events,
                        ProtectionRole::kProtected);
  auto control = start_side_control(
      options.pair, kSide, [&] { return status_json(protection, started, log.exit_count()); },
      [&] { protection.cut_link(); },
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
  if (disk_gate) {
    transfer_port.set_unfinished_disk_requests([&disk_gate] { return disk_gate->unfinished(); });
  }
  link.start([&](const std::string& reason) { protection.backup_lost(reason); });
  log_role(kSide, "running, protected");
  JoinService joins(
      listener->fd.get(), protection,
      JoinParts{key, link_options, hello, (*vm)->memory(), transfer_port, digesting, pending,
                [&time](replay::ClockKind clock) { return time.last_value(clock); },
                std::chrono::milliseconds(static_cast<int64_t>(options.wait_backup_s * 1000))});
  const RunResult result = run_live(runner, events, **backends);
  joins.stop();

  if (result.reason == RunResult::Reason::kFault) {
    fmt::print(stderr, "ftvm: guest fault: {}\n{}", result.detail,
               crash_report((*vm)->vcpu(), (*vm)->memory(), runner.last_seen_registers()));
  }
  if (auto r = recorder.finish(runner, result); !r)
    fmt::print(stderr, "ftvm: {}\n", r.error().message);
  protection.end(result.detail);
  if (disk_gate && disk_gate->stats().held > 0 &&
      protection.role() != ProtectionRole::kUnprotected) {
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
  json["pair"] = status_json(protection, started, runner.exit_count());
  json["throttled_ms"] = driver.throttled().count();
  json["console_waited_ms"] = driver.console_waited().count();
  if (auto r = write_json(options.console.stats_json_path, json); !r) return fail(r.error());
  const int override_code = protection.exit_code();
  return override_code >= 0 ? override_code : exit_code_for(result);
}

}  // namespace ftvm
