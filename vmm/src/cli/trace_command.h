#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace ftvm {

struct TraceCommandOptions {
  std::string trace_dir;
  bool json = false;
};

// `ftvm trace dump DIR` and `ftvm trace stats DIR [--json]`.
CLI::App* add_trace_command(CLI::App& app, TraceCommandOptions& options);
int trace_command(CLI::App& trace, const TraceCommandOptions& options);

}  // namespace ftvm
