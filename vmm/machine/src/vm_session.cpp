#include "machine/vm_session.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "machine/builtin_guest.h"
#include "machine/exit_codes.h"
#include "vmm/emu_vcpu.h"

namespace ftvm {

Result<Accel> choose_accel(const GuestOptions& guest, const char* command, bool emu_ready) {
  if (guest.accel == "kvm") return Accel::kKvm;
  if (guest.accel == "emu") {
    if (emu_ready) return Accel::kEmu;
    return make_error(fmt::format(
        "ftvm {} cannot run on the software CPU yet (it needs counted landmarks, not built "
        "yet): use --accel kvm on a host with a usable /dev/kvm, or ftvm run --accel emu",
        command));
  }
  auto kvm = Kvm::open(guest.kvm_device);
  if (kvm || !emu_ready) return Accel::kKvm;
  fmt::print(stderr, "ftvm: no usable KVM ({}); running on the software CPU ({})\n",
             kvm.error().message, EmuVcpu::engine_version());
  return Accel::kEmu;
}

Result<GuestImage> load_guest_image(const std::string& path) {
  if (path.empty()) {
    auto image = builtin_guest_image();
    return GuestImage{{image.begin(), image.end()}, "testsvc (built in)"};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error(fmt::format("cannot open guest image {}: {}", path, std::strerror(errno)));
  }
  return GuestImage{{std::istreambuf_iterator<char>(in), {}}, path};
}

Result<UniqueFd> open_console_output(const std::string& path) {
  if (path.empty()) return UniqueFd(::dup(STDOUT_FILENO));
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    return make_error(fmt::format("cannot write console file {}: {}", path, std::strerror(errno)));
  }
  return fd;
}

Result<UniqueFd> open_console_input(const std::string& path) {
  if (path.empty()) return UniqueFd(::dup(STDIN_FILENO));
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return make_error(fmt::format("cannot read input file {}: {}", path, std::strerror(errno)));
  }
  return fd;
}

Result<LiveFiles> open_live_files(const GuestOptions& guest, const ConsoleOptions& console,
                                  const std::string& input_path) {
  auto image = load_guest_image(guest.guest);
  if (!image) return image.error();
  auto output = open_console_output(console.console_path);
  if (!output) return output.error();
  auto input = open_console_input(input_path);
  if (!input) return input.error();
  return LiveFiles{std::move(*image), std::move(*output), std::move(*input)};
}

VmConfig make_vm_config(const GuestOptions& guest, const GuestImage& image) {
  VmConfig config;
  config.mem_bytes = guest.mem_mib << 20;
  config.kvm_device = guest.kvm_device;
  config.image = image.bytes;
  config.image_name = image.name;
  return config;
}

double default_max_delay_ms(Accel accel) {
  return accel == Accel::kEmu ? 0.0 : 1.0;
}

LiveBackends::Options make_live_options(int input_fd, std::optional<double> seconds,
                                        double max_delay_ms) {
  LiveBackends::Options live;
  live.input_fd = input_fd;
  live.max_delay = std::chrono::nanoseconds(static_cast<int64_t>(max_delay_ms * 1e6));
  if (seconds) {
    live.time_limit = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::duration<double>(*seconds));
  }
  return live;
}

RunResult run_live(VcpuRunner& runner, EventQueue& events, LiveBackends& backends) {
  install_kick_signal_handler();
  events.set_kick([&runner] { runner.kick(); });
  runner.on_pit_schedule_change(
      [&backends](const PitTimerSchedule& s) { backends.schedule_pit(s); });
  RunResult result = runner.run();
  events.set_kick(nullptr);
  return result;
}

RunReport make_report(const RunResult& result, std::chrono::steady_clock::time_point started,
                      const FileConsole& console, const ExitCounters& exits) {
  const auto now = std::chrono::steady_clock::now();
  RunReport report{result, std::chrono::duration<double>(now - started).count(), std::nullopt,
                   console.bytes_written(), exits};
  if (auto first = console.first_output()) {
    report.first_output_ms = std::chrono::duration<double, std::milli>(*first - started).count();
  }
  return report;
}

nlohmann::json report_json(const RunReport& report) {
  const auto& e = report.exits;
  const double s = report.seconds > 0 ? report.seconds : 1;
  nlohmann::json j;
  j["seconds"] = report.seconds;
  j["stop_reason"] = report.result.detail;
  j["guest_status"] = report.result.guest_status;
  j["console_bytes"] = report.console_bytes;
  j["first_output_ms"] =
      report.first_output_ms ? nlohmann::json(*report.first_output_ms) : nlohmann::json(nullptr);
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

void print_report(const RunReport& report) {
  const auto& e = report.exits;
  const double s = report.seconds > 0 ? report.seconds : 1;
  const std::string& detail = report.result.detail;
  fmt::print(stderr, "ftvm: {} after {:.2f} s\n", detail.substr(0, detail.find('\n')),
             report.seconds);
  fmt::print(stderr,
             "ftvm: {} exits ({:.0f}/s): pio {} mmio {} hlt {} irq-window {} debug {} async {}; "
             "deterministic exit count E={}\n",
             e.total(), static_cast<double>(e.total()) / s, e.pio, e.mmio, e.hlt, e.irq_window,
             e.debug, e.interrupted, e.deterministic);
  if (report.first_output_ms) {
    fmt::print(stderr, "ftvm: first console output {:.1f} ms after start\n",
               *report.first_output_ms);
  }
}

Result<void> write_json(const std::string& path, const nlohmann::json& json) {
  if (path.empty()) return {};
  std::ofstream out(path);
  out << json.dump(2) << "\n";
  if (!out) return make_error(fmt::format("cannot write {}", path));
  return {};
}

int exit_code_for(const RunResult& result) {
  switch (result.reason) {
    case RunResult::Reason::kGuestShutdown:
      return result.guest_status == 0 ? kExitOk : kExitGuestFailure;
    case RunResult::Reason::kStopRequested:
    case RunResult::Reason::kReplayComplete:
      return kExitOk;
    case RunResult::Reason::kFault:
      return kExitGuestFault;
    case RunResult::Reason::kDivergence:
      return kExitDivergence;
  }
  return kExitGuestFault;
}

int fail(const Error& error) {
  fmt::print(stderr, "ftvm: {}\n", error.message);
  return kExitSetup;
}

}  // namespace ftvm
