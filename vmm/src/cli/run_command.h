#pragma once

#include <CLI/CLI.hpp>

#include "machine/run_vm.h"

namespace ftvm {

CLI::App* add_run_command(CLI::App& app, RunOptions& options);

}  // namespace ftvm
