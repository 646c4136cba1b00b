// What every command that runs a VM shares: guest image loading, console and input files,
// the run summary and its JSON form, and exit codes.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "machine/live_disk.h"
#include "vmm/execution_driver.h"
#include "vmm/exit_handler.h"
#include "vmm/file_console.h"
#include "vmm/live_backends.h"
#include "vmm/result.h"
#include "vmm/unique_fd.h"
#include "vmm/vcpu_runner.h"
#include "vmm/vm.h"

namespace ftvm {

struct GuestOptions {
  uint64_t mem_mib = 64;
  std::string guest;  // path to an ELF64 kernel; empty = built-in testsvc
  std::string kvm_device = "/dev/kvm";
  std::string accel = "auto";  // kvm | emu | auto
  DiskOptions disk;
};

// Resolves --accel. `auto` takes KVM where /dev/kvm is usable and otherwise the software CPU,
// saying so in one line on stderr, but only for a command that can run on it (`emu_ready`);
// elsewhere it stays on KVM, whose error then says what is missing.
Result<Accel> choose_accel(const GuestOptions& guest, const char* command, bool emu_ready);

// A recorder's --max-delay when none is given: how long an event may wait for the guest's next
// exit before the vCPU is interrupted. On the software CPU an interrupted position is a counted
// landmark (a few bytes, exact), so waiting buys nothing and events go at once; on KVM it costs
// a breakpoint search or a checkpoint on replay, so events wait up to 1 ms for a natural exit.
double default_max_delay_ms(Accel accel);
inline constexpr const char* kMaxDelayDefaultText =
    "(default: 0 on the software CPU, where interrupting costs a counted landmark; 1 on KVM)";

struct ConsoleOptions {
  std::string console_path;  // empty = stdout
  std::string stats_json_path;
};

struct GuestImage {
  std::vector<uint8_t> bytes;
  std::string name;
};
Result<GuestImage> load_guest_image(const std::string& path);

Result<UniqueFd> open_console_output(const std::string& path);
Result<UniqueFd> open_console_input(const std::string& path);

// What a VM fed from the host (run, record) opens before it starts.
struct LiveFiles {
  GuestImage image;
  UniqueFd output;
  UniqueFd input;
};
Result<LiveFiles> open_live_files(const GuestOptions& guest, const ConsoleOptions& console,
                                  const std::string& input_path);
VmConfig make_vm_config(const GuestOptions& guest, const GuestImage& image);
LiveBackends::Options make_live_options(int input_fd, std::optional<double> seconds,
                                        double max_delay_ms);
// Runs `runner` with the live backends' timer and kicks wired to it.
RunResult run_live(VcpuRunner& runner, EventQueue& events, LiveBackends& backends);

struct RunReport {
  RunResult result;
  double seconds = 0;
  std::optional<double> first_output_ms;
  uint64_t console_bytes = 0;
  ExitCounters exits;
};

RunReport make_report(const RunResult& result, std::chrono::steady_clock::time_point started,
                      const FileConsole& console, const ExitCounters& exits);
nlohmann::json report_json(const RunReport& report);
void print_report(const RunReport& report);
Result<void> write_json(const std::string& path, const nlohmann::json& json);
int exit_code_for(const RunResult& result);
int fail(const Error& error);

}  // namespace ftvm
