#pragma once

#include <CLI/CLI.hpp>

#include "pair/backup.h"

namespace ftvm {

CLI::App* add_backup_command(CLI::App& app, BackupOptions& options);

}  // namespace ftvm
