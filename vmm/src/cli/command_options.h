// The options several commands share: what the guest is, where its console goes, its disk and
// network card, how a log is followed, and a pair side's identity and timeouts. The structures
// they fill belong to the machine and pair libraries; only the command line lives here.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "machine/live_disk.h"
#include "machine/live_net.h"
#include "machine/vm_session.h"
#include "pair/pair_side.h"

namespace ftvm {

void add_guest_options(CLI::App& command, GuestOptions& options);
void add_console_options(CLI::App& command, ConsoleOptions& options);
void add_disk_options(CLI::App& command, DiskOptions& options);
void add_net_options(CLI::App& command, NetOptions& options);
// Adds --accel to a command that follows a log.
void add_follow_accel_option(CLI::App& command, std::string& accel);
// Adds --interrupt-window (auto, off) to a command that records (RecordOptions::interrupt_window).
void add_interrupt_window_option(CLI::App& command, std::string& choice);
void add_pair_side_options(CLI::App& command, PairSideOptions& options);
// --input FILE (default: stdin) and --seconds N, for a command that feeds a live VM.
void add_input_options(CLI::App& command, std::string& input_path, std::optional<double>& seconds);

}  // namespace ftvm
