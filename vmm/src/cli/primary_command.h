#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "net_option.h"
#include "pair_side.h"
#include "vm_session.h"

namespace ftvm {

struct PrimaryCommandOptions {
  GuestOptions guest;
  ConsoleOptions console;
  PairSideOptions pair;
  std::string input_path;
  std::optional<double> seconds;
  std::string listen = "127.0.0.1:7301";
  int listen_fd = -1;
  double wait_backup_s = 30;
  std::optional<double> max_delay_ms;  // default_max_delay_ms() when not given
  std::string async_mode = "auto";
  std::string interrupt_window = "auto";  // or "off"
  double max_lag_ms = 100;
  NetOptions net;
};

CLI::App* add_primary_command(CLI::App& app, PrimaryCommandOptions& options);
int primary_command(const PrimaryCommandOptions& options);

}  // namespace ftvm
