#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "vm_session.h"

namespace ftvm {

struct PairCommandOptions {
  GuestOptions guest;
  std::string input_path;
  std::optional<double> seconds;
  std::optional<double> kill_primary_after;
  std::optional<double> kill_backup_after;
  std::optional<double> cut_channel_after;
  std::string run_dir;
  // Empty: the pair's own disk server; else an arbiter of the user's (etcd://...).
  std::string arbiter;
  std::string stats_json_path;
  double max_lag_ms = 100;
  double suspect_ms = 50;
  double declare_ms = 200;
  double status_every_s = 1;
  // tap:PRIMARY_TAP,BACKUP_TAP: the two sides' TAP devices on one network; libvirt:SPEC: a
  // port for each side on that libvirt network; empty: no card.
  std::string net;
  std::string mac = "02:46:54:56:4d:01";
};

CLI::App* add_pair_command(CLI::App& app, PairCommandOptions& options);
int pair_command(const PairCommandOptions& options);

}  // namespace ftvm
