#include "run_command.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <vector>

#include "builtin_guest.h"
#include "exit_codes.h"
#include "vmm/crash_report.h"
#include "vmm/file_console.h"
#include "vmm/live_backends.h"
#include "vmm/live_driver.h"
#include "vmm/unique_fd.h"
#include "vmm/vcpu_runner.h"
#include "vmm/vm.h"

namespace ftvm {
namespace {

using Clock = std::chrono::steady_clock;

Result<std::vector<uint8_t>> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(fmt::format("cannot open guest image {}: {}", path, strerror(errno)));
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

Result<UniqueFd> open_output(const std::string& path) {
  if (path.empty()) return UniqueFd(::dup(STDOUT_FILENO));
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid())
    return make_error(fmt::format("cannot write console file {}: {}", path, strerror(errno)));
  return fd;
}

Result<UniqueFd> open_input(const std::string& path) {
  if (path.empty()) return UniqueFd(::dup(STDIN_FILENO));
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid())
    return make_error(fmt::format("cannot read input file {}: {}", path, strerror(errno)));
  return fd;
}

struct RunReport {
  RunResult result;
  double seconds;
  std::optional<double> first_output_ms;
  uint64_t console_bytes;
  ExitCounters exits;
};

nlohmann::json to_json(const RunReport& report) {
  const auto& e = report.exits;
  const double s = report.seconds > 0 ? report.seconds : 1;
  nlohmann::json j;
  j["seconds"] = report.seconds;
  j["stop_reason"] = report.result.detail;
  j["guest_status"] = report.result.guest_status;
  j["console_bytes"] = report.console_bytes;
  j["first_output_ms"] = report.first_output_ms ? nlohmann::json(*report.first_output_ms) : nullptr;
  j["exits"] = {{"total", e.total()},
                {"deterministic", e.deterministic},
                {"pio", e.pio},
                {"mmio", e.mmio},
                {"hlt", e.hlt},
                {"irq_window", e.irq_window},
                {"debug", e.debug},
                {"interrupted", e.interrupted},
                {"unclaimed", e.unclaimed}};
  j["exits_per_second"] = static_cast<double>(e.total()) / s;
  return j;
}

void print_summary(const RunReport& report) {
  const auto& e = report.exits;
  const double s = report.seconds > 0 ? report.seconds : 1;
  fmt::print(stderr, "ftvm: {} after {:.2f} s\n", report.result.detail, report.seconds);
  fmt::print(stderr,
             "ftvm: {} exits ({:.0f}/s): pio {} mmio {} hlt {} irq-window {} async {}; "
             "deterministic exit count E={}\n",
             e.total(), static_cast<double>(e.total()) / s, e.pio, e.mmio, e.hlt, e.irq_window,
             e.interrupted, e.deterministic);
  if (report.first_output_ms) {
    fmt::print(stderr, "ftvm: first console output {:.1f} ms after start\n",
               *report.first_output_ms);
  }
}

int exit_code_for(const RunResult& result) {
  switch (result.reason) {
    case RunResult::Reason::kGuestShutdown:
      return result.guest_status == 0 ? kExitOk : kExitGuestFailure;
    case RunResult::Reason::kStopRequested:
      return kExitOk;
    case RunResult::Reason::kFault:
      return kExitGuestFault;
    case RunResult::Reason::kDivergence:
    case RunResult::Reason::kReplayComplete:
      return kExitGuestFault;
  }
  return kExitGuestFault;
}

}  // namespace

void add_run_command(CLI::App& app, RunOptions& options) {
  auto* run = app.add_subcommand("run", "Run one unprotected VM");
  run->add_option("GUEST", options.guest, "ELF64 guest kernel (default: the built-in testsvc)")
      ->check(CLI::ExistingFile);
  run->add_option("--mem", options.mem_mib, "Guest memory in MiB")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{4}, uint64_t{3072}));
  run->add_option("--console", options.console_path,
                  "Write guest console output to FILE (default: stdout)");
  run->add_option("--input", options.input_path, "Feed FILE to the guest console (default: stdin)")
      ->check(CLI::ExistingFile);
  run->add_option("--seconds", options.seconds,
                  "Stop the VM after N seconds (default: run until the guest shuts down)")
      ->check(CLI::PositiveNumber);
  run->add_option("--stats-json", options.stats_json_path, "Write run statistics as JSON to FILE");
  run->add_option("--kvm-device", options.kvm_device, "The KVM device node")->capture_default_str();
}

int run_command(const RunOptions& options) {
  const auto started = Clock::now();
  std::vector<uint8_t> image_storage;
  VmConfig config;
  config.mem_bytes = options.mem_mib << 20;
  config.kvm_device = options.kvm_device;
  if (options.guest.empty()) {
    config.image = builtin_guest_image();
    config.image_name = "(built-in testsvc)";
  } else {
    auto bytes = read_file(options.guest);
    if (!bytes) return fmt::print(stderr, "ftvm: {}\n", bytes.error().message), kExitSetup;
    image_storage = std::move(*bytes);
    config.image = image_storage;
    config.image_name = options.guest;
  }
  auto output = open_output(options.console_path);
  if (!output) return fmt::print(stderr, "ftvm: {}\n", output.error().message), kExitSetup;
  auto input = open_input(options.input_path);
  if (!input) return fmt::print(stderr, "ftvm: {}\n", input.error().message), kExitSetup;

  FileConsole console(output->get());
  HostTimeSource time;
  auto vm = Vm::create(config, time, console);
  if (!vm) return fmt::print(stderr, "ftvm: {}\n", vm.error().message), kExitSetup;

  EventQueue events;
  LiveBackends::Options live;
  live.input_fd = input->get();
  if (options.seconds) {
    live.time_limit = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::duration<double>(*options.seconds));
  }
  auto backends = LiveBackends::start(events, live);
  if (!backends) return fmt::print(stderr, "ftvm: {}\n", backends.error().message), kExitSetup;

  install_kick_signal_handler();
  LiveDriver driver(events);
  VcpuRunner runner((*vm)->vcpu(), (*vm)->platform(), driver);
  events.set_kick([&runner] { runner.kick(); });
  runner.on_pit_schedule_change(
      [b = backends->get()](const PitTimerSchedule& s) { b->schedule_pit(s); });
  RunResult result = runner.run();
  events.set_kick(nullptr);
  console.flush();

  if (result.reason == RunResult::Reason::kFault) {
    fmt::print(stderr, "ftvm: guest fault: {}\n{}", result.detail,
               crash_report((*vm)->vcpu(), (*vm)->memory()));
  }
  RunReport report{result, std::chrono::duration<double>(Clock::now() - started).count(),
                   std::nullopt, console.bytes_written(), runner.counters()};
  if (auto first = console.first_output()) {
    report.first_output_ms = std::chrono::duration<double, std::milli>(*first - started).count();
  }
  print_summary(report);
  if (!options.stats_json_path.empty()) {
    std::ofstream out(options.stats_json_path);
    out << to_json(report).dump(2) << "\n";
    if (!out) fmt::print(stderr, "ftvm: cannot write {}\n", options.stats_json_path);
  }
  return exit_code_for(result);
}

}  // namespace ftvm
