#pragma once

#include <CLI/CLI.hpp>

#include "machine/replay_trace.h"

namespace ftvm {

CLI::App* add_replay_command(CLI::App& app, ReplayTraceOptions& options);

}  // namespace ftvm
