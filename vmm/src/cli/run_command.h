#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "net_option.h"
#include "vm_session.h"

namespace ftvm {

struct RunOptions {
  GuestOptions guest;
  ConsoleOptions console;
  std::string input_path;  // empty = stdin
  std::optional<double> seconds;
  NetOptions net;
};

void add_input_options(CLI::App& command, std::string& input_path, std::optional<double>& seconds);
CLI::App* add_run_command(CLI::App& app, RunOptions& options);
int run_command(const RunOptions& options);

}  // namespace ftvm
