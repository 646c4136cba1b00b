// ftvm: fault-tolerant virtual machines on KVM. See README.md and docs/.
#include <CLI/CLI.hpp>

#include "exit_codes.h"
#include "run_command.h"

int main(int argc, char** argv) {
  CLI::App app{"ftvm: fault-tolerant virtual machines on plain KVM"};
  app.require_subcommand(1);
  ftvm::RunOptions run_options;
  ftvm::add_run_command(app, run_options);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? ftvm::kExitOk : ftvm::kExitUsage;
  }
  if (app.got_subcommand("run")) return ftvm::run_command(run_options);
  return ftvm::kExitUsage;
}
