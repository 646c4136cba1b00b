// `ftvm pair`: a protected pair on this machine. It starts an arbiter (or uses the user's), a
// primary and a backup as child processes, routes console input and output between them and
// the user, prints their status, and injects the faults it is asked for. When the backup ends
// (killed, crashed, or stopped by a divergence) and the primary runs on alone, it starts a new
// backup that joins the primary by state transfer (docs/failover.md, "Re-protection"); when the
// backup went live after a failover, it is the primary of the next pair, and a new backup
// joins it in the same way.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "machine/vm_session.h"

namespace ftvm {

struct PairOptions {
  GuestOptions guest;
  std::string input_path;
  std::optional<double> seconds;
  std::optional<double> kill_primary_after;
  std::optional<double> kill_backup_after;
  // Fault loop: SIGKILL each backup this many seconds after it started (the first) or joined.
  std::optional<double> kill_backup_every;
  // Fault loop: SIGKILL the primary once it has been protected this many seconds (its backup
  // replaying, the first or a joined one); the backup goes live, and a new one joins it.
  std::optional<double> kill_primary_every;
  std::optional<double> cut_channel_after;
  // Fault injection: alter the next output digest the primary logs after N seconds, so that
  // the backup diverges (and the pair resyncs it with a new backup).
  std::optional<double> corrupt_log_after;
  std::string run_dir;
  // Empty: the pair's own disk server; else an arbiter of the user's (etcd://...).
  std::string arbiter;
  std::string stats_json_path;
  double max_lag_ms = 100;
  // The primaries' asynchronous landmarks (ftvm primary --async); a backup replays what the log
  // holds and, once live, records as its log's header says.
  std::string async_mode = "auto";
  double suspect_ms = 50;
  double declare_ms = 200;
  double status_every_s = 1;
  // tap:PRIMARY_TAP,BACKUP_TAP: the two sides' TAP devices on one network; libvirt:SPEC: a
  // port for each side on that libvirt network; empty: no card.
  std::string net;
  std::string mac = "02:46:54:56:4d:01";
};

// --net tap:A,B -> (A, B); --net libvirt:SPEC -> (libvirt:SPEC, libvirt:SPEC): each side
// reserves a port of its own on that network.
Result<std::pair<std::string, std::string>> parse_side_nets(const std::string& value);

int run_pair(const PairOptions& options);

}  // namespace ftvm
