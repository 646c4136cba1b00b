#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

namespace ftvm {

struct DiskServerOptions {
  std::string listen = "127.0.0.1:7300";
  std::optional<int> listen_fd;  // an inherited listening socket, instead of --listen
  std::string state_dir;
  std::string key_file;  // the pairs' key: requests must be signed with it (line_auth.h)
  std::string nbd_listen = "127.0.0.1:10809";
  std::optional<int> nbd_listen_fd;  // an inherited listening socket, instead of --nbd-listen
  std::vector<std::string> exports;  // NAME=FILE[:ro]: served over NBD when any is given
  bool allow_remote = false;
};

// `ftvm disk-server`: the arbiter that grants a pair's sides the right to run
// (docs/arbiter.md). Serves until SIGINT or SIGTERM.
CLI::App* add_disk_server_command(CLI::App& app, DiskServerOptions& options);
int disk_server_command(const DiskServerOptions& options);

}  // namespace ftvm
