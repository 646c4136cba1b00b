#pragma once

#include <CLI/CLI.hpp>

#include "pair/primary.h"

namespace ftvm {

CLI::App* add_primary_command(CLI::App& app, PrimaryOptions& options);

}  // namespace ftvm
