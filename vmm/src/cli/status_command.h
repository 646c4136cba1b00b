#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace ftvm {

struct StatusOptions {
  std::string control_path;
  std::string command = "status";  // or any other command the side knows, e.g. cut-channel
  bool json = false;
};

// `ftvm status --control PATH [--json] [--command NAME]`: asks a running side through its
// control socket (see control_server.h).
CLI::App* add_status_command(CLI::App& app, StatusOptions& options);
int status_command(const StatusOptions& options);

}  // namespace ftvm
