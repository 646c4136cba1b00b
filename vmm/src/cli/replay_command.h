#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "vm_session.h"

namespace ftvm {

struct ReplayCommandOptions {
  std::string trace_dir;
  ConsoleOptions console;
  std::string kvm_device = "/dev/kvm";
  std::string accel = "auto";
};

CLI::App* add_replay_command(CLI::App& app, ReplayCommandOptions& options);
int replay_command(const ReplayCommandOptions& options);

}  // namespace ftvm
