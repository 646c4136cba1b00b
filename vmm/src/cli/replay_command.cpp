#include "replay_command.h"

#include "command_options.h"
#include "option_checks.h"

namespace ftvm {

CLI::App* add_replay_command(CLI::App& app, ReplayTraceOptions& options) {
  auto* replay = app.add_subcommand(
      "replay", "Re-execute a recorded run; exit 0 iff it replays without divergence");
  replay->add_option("--trace", options.trace_dir, "The trace directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  add_console_options(*replay, options.console);
  replay->add_option("--kvm-device", options.kvm_device, "The KVM device node")
      ->capture_default_str();
  add_follow_accel_option(*replay, options.accel);
  return replay;
}

}  // namespace ftvm
