#include "trace_command.h"

#include <fmt/format.h>

#include "machine/exit_codes.h"
#include "machine/vm_session.h"
#include "replay/trace_files.h"
#include "replay/trace_report.h"

namespace ftvm {

CLI::App* add_trace_command(CLI::App& app, TraceCommandOptions& options) {
  auto* trace = app.add_subcommand("trace", "Read a trace");
  trace->require_subcommand(1);
  auto* dump = trace->add_subcommand("dump", "Print one line per log entry");
  dump->add_option("DIR", options.trace_dir, "The trace directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  auto* stats = trace->add_subcommand("stats", "Counts and bytes per entry and landmark kind");
  stats->add_option("DIR", options.trace_dir, "The trace directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  stats->add_flag("--json", options.json, "Machine-readable output");
  return trace;
}

int trace_command(CLI::App& trace, const TraceCommandOptions& options) {
  auto reader = replay::TraceReader::open(options.trace_dir);
  if (!reader) return fail(reader.error());
  if (trace.got_subcommand("dump")) {
    fmt::print("{}", replay::dump_trace(*reader));
  } else if (options.json) {
    fmt::print("{}\n", replay::trace_stats_json(*reader).dump(2));
  } else {
    fmt::print("{}", replay::trace_stats_text(*reader));
  }
  if (reader->torn_tail()) fmt::print(stderr, "ftvm: warning: {}\n", *reader->torn_tail());
  return kExitOk;
}

}  // namespace ftvm
