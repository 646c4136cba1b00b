#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "net_option.h"
#include "pair_side.h"
#include "vm_session.h"

namespace ftvm {

struct BackupCommandOptions {
  ConsoleOptions console;
  PairSideOptions pair;
  std::string input_path;
  std::string connect = "127.0.0.1:7301";
  double connect_timeout_s = 30;
  std::string kvm_device = "/dev/kvm";
  std::string accel = "auto";
  DiskOptions disk;  // the disk the primary's VM uses, for when this side goes live
  // Once live; default_max_delay_ms() of the primary's backend when not given.
  std::optional<double> max_delay_ms;
  NetOptions net;  // the network the primary's VM is on, for when this side goes live
};

CLI::App* add_backup_command(CLI::App& app, BackupCommandOptions& options);
int backup_command(const BackupCommandOptions& options);

}  // namespace ftvm
