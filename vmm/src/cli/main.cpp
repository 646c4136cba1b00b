// ftvm: fault-tolerant virtual machines on plain KVM. See README.md and docs/.
#include <CLI/CLI.hpp>

#include "backup_command.h"
#include "disk_server_command.h"
#include "host_info_command.h"
#include "machine/exit_codes.h"
#include "pair_command.h"
#include "primary_command.h"
#include "record_command.h"
#include "replay_command.h"
#include "run_command.h"
#include "status_command.h"
#include "trace_command.h"

int main(int argc, char** argv) {
  CLI::App app{"ftvm: fault-tolerant virtual machines on plain KVM"};
  app.require_subcommand(1);
  ftvm::RunOptions run_options;
  ftvm::RecordVmOptions record_options;
  ftvm::ReplayTraceOptions replay_options;
  ftvm::TraceCommandOptions trace_options;
  ftvm::DiskServerOptions disk_server_options;
  ftvm::StatusOptions status_options;
  ftvm::PrimaryOptions primary_options;
  ftvm::BackupOptions backup_options;
  ftvm::PairOptions pair_options;
  ftvm::HostInfoOptions host_info_options;
  auto* run = ftvm::add_run_command(app, run_options);
  auto* record = ftvm::add_record_command(app, record_options);
  auto* replay = ftvm::add_replay_command(app, replay_options);
  auto* trace = ftvm::add_trace_command(app, trace_options);
  auto* disk_server = ftvm::add_disk_server_command(app, disk_server_options);
  auto* status = ftvm::add_status_command(app, status_options);
  auto* primary = ftvm::add_primary_command(app, primary_options);
  auto* backup = ftvm::add_backup_command(app, backup_options);
  auto* pair = ftvm::add_pair_command(app, pair_options);
  auto* host_info = ftvm::add_host_info_command(app, host_info_options);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? ftvm::kExitOk : ftvm::kExitUsage;
  }
  if (run->parsed()) return ftvm::run_vm(run_options);
  if (record->parsed()) return ftvm::record_vm(record_options);
  if (replay->parsed()) return ftvm::replay_trace(replay_options);
  if (trace->parsed()) return ftvm::trace_command(*trace, trace_options);
  if (disk_server->parsed()) return ftvm::disk_server_command(disk_server_options);
  if (status->parsed()) return ftvm::status_command(status_options);
  if (primary->parsed()) return ftvm::run_primary(primary_options);
  if (backup->parsed()) return ftvm::run_backup(backup_options);
  if (pair->parsed()) return ftvm::run_pair(pair_options);
  if (host_info->parsed()) return ftvm::host_info_command(host_info_options);
  return ftvm::kExitUsage;
}
