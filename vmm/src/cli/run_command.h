#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>

namespace ftvm {

struct RunOptions {
  uint64_t mem_mib = 64;
  std::string guest;         // path to an ELF64 kernel; empty = built-in testsvc
  std::string console_path;  // empty = stdout
  std::string input_path;    // empty = stdin
  std::optional<double> seconds;
  std::string stats_json_path;
  std::string kvm_device = "/dev/kvm";
};

void add_run_command(CLI::App& app, RunOptions& options);
int run_command(const RunOptions& options);

}  // namespace ftvm
