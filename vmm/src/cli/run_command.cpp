#include "run_command.h"

#include "command_options.h"
#include "option_checks.h"

namespace ftvm {

CLI::App* add_run_command(CLI::App& app, RunOptions& options) {
  auto* run = app.add_subcommand("run", "Run one unprotected VM");
  add_guest_options(*run, options.guest);
  add_net_options(*run, options.net);
  add_console_options(*run, options.console);
  add_input_options(*run, options.input_path, options.seconds);
  return run;
}

}  // namespace ftvm
