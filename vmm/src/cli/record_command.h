#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "net_option.h"
#include "vm_session.h"

namespace ftvm {

struct RecordCommandOptions {
  GuestOptions guest;
  ConsoleOptions console;
  std::string input_path;
  std::optional<double> seconds;
  std::string trace_dir;
  bool overwrite = false;
  std::optional<double> max_delay_ms;  // default_max_delay_ms() when not given
  std::string async_mode = "auto";
  std::string interrupt_window = "auto";  // or "off"
  uint64_t digest_ms = 500;
  NetOptions net;
};

CLI::App* add_record_command(CLI::App& app, RecordCommandOptions& options);
int record_command(const RecordCommandOptions& options);

}  // namespace ftvm
