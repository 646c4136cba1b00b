#include "run_command.h"

#include <fmt/format.h>

#include "exit_codes.h"
#include "option_checks.h"
#include "vmm/crash_report.h"
#include "vmm/live_backends.h"
#include "vmm/live_driver.h"
#include "vmm/vcpu_runner.h"
#include "vmm/vm.h"

namespace ftvm {

void add_input_options(CLI::App& command, std::string& input_path, std::optional<double>& seconds) {
  command.add_option("--input", input_path, "Feed FILE to the guest console (default: stdin)")
      ->check(CLI::ExistingFile);
  command
      .add_option("--seconds", seconds,
                  "Stop the VM after N seconds (default: run until the guest shuts down)")
      ->check(positive_seconds());
}

CLI::App* add_run_command(CLI::App& app, RunOptions& options) {
  auto* run = app.add_subcommand("run", "Run one unprotected VM");
  add_guest_options(*run, options.guest);
  add_net_options(*run, options.net);
  add_console_options(*run, options.console);
  add_input_options(*run, options.input_path, options.seconds);
  return run;
}

int run_command(const RunOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  auto files = open_live_files(options.guest, options.console, options.input_path);
  if (!files) return fail(files.error());
  auto accel = choose_accel(options.guest, "run", /*emu_ready=*/true);
  if (!accel) return fail(accel.error());
  VmConfig config = make_vm_config(options.guest, files->image);
  config.accel = *accel;
  FileConsole console(files->output.get());
  HostTimeSource time;
  // The disk is opened before the VM, so a bad image is reported as such on any host.
  EventQueue events;
  auto disk = open_live_disk(options.guest.disk, events);
  if (!disk) return fail(disk.error());
  auto net = open_live_net(options.net, events);
  if (!net) return fail(net.error());
  auto vm = Vm::create(config, time, console);
  if (!vm) return fail(vm.error());
  if (*net) {
    if (auto r = attach_live_net(**vm, **net); !r) return fail(r.error());
  }
  if (*disk) {
    if (auto r = (*vm)->platform().attach_disk((*vm)->memory(), *(*disk)->backend, (*disk)->device);
        !r) {
      return fail(r.error());
    }
  }
  auto backends = LiveBackends::start(
      events, make_live_options(files->input.get(), options.seconds, /*max_delay_ms=*/0));
  if (!backends) return fail(backends.error());
  LiveDriver driver(events);
  VcpuRunner runner((*vm)->vcpu(), (*vm)->platform(), driver);
  const RunResult result = run_live(runner, events, **backends);
  console.flush();

  if (result.reason == RunResult::Reason::kFault) {
    fmt::print(stderr, "ftvm: guest fault: {}\n{}", result.detail,
               crash_report((*vm)->vcpu(), (*vm)->memory(), runner.last_seen_registers()));
  }
  const RunReport report = make_report(result, started, console, runner.counters());
  print_report(report);
  if (auto r = write_json(options.console.stats_json_path, report_json(report)); !r) {
    fmt::print(stderr, "ftvm: {}\n", r.error().message);
  }
  return exit_code_for(result);
}

}  // namespace ftvm
