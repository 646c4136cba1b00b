#pragma once

#include <CLI/CLI.hpp>

#include "pair/supervisor.h"

namespace ftvm {

CLI::App* add_pair_command(CLI::App& app, PairOptions& options);

}  // namespace ftvm
