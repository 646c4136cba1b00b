#include "machine/run_vm.h"

#include <fmt/format.h>

#include "machine/exit_codes.h"
#include "machine/live_net.h"
#include "machine/vm_session.h"
#include "vmm/crash_report.h"
#include "vmm/live_backends.h"
#include "vmm/live_driver.h"
#include "vmm/vcpu_runner.h"
#include "vmm/vm.h"

namespace ftvm {

int run_vm(const RunOptions& options) {
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
