#pragma once

#include <CLI/CLI.hpp>

#include "machine/record_vm.h"

namespace ftvm {

CLI::App* add_record_command(CLI::App& app, RecordVmOptions& options);

}  // namespace ftvm
