// `ftvm backup`: the backup of a protected pair. It builds the VM its primary sends, replays the
// primary's log behind it, and when the primary is lost finishes the log, asks the arbiter, and
// goes live where it won; from then on it records, like a primary, for the backups that join it
// (--listen). With --join it joins a primary whose guest already runs: it receives
// the guest's state first (docs/failover.md, "Re-protection"). A backup whose replay diverges
// while its primary runs on joins it again for a fresh copy (a resync) unless told not to.
#pragma once

#include <optional>
#include <string>

#include "machine/live_net.h"
#include "machine/vm_session.h"
#include "pair/pair_side.h"

namespace ftvm {

struct BackupOptions {
  ConsoleOptions console;
  PairSideOptions pair;
  std::string input_path;
  std::string connect = "127.0.0.1:7301";
  // Instead of --connect: a running primary (an unprotected survivor) to join by state
  // transfer; the pair's generation is then the one the primary gives.
  std::string join;
  double connect_timeout_s = 30;
  std::string kvm_device = "/dev/kvm";
  std::string accel = "auto";
  DiskOptions disk;  // the disk the primary's VM uses, for when this side goes live
  // Once live; default_max_delay_ms() of the primary's backend when not given.
  std::optional<double> max_delay_ms;
  NetOptions net;  // the network the primary's VM is on, for when this side goes live
  // Once live: where new backups join it (HOST:PORT, or an inherited listening socket); with
  // neither, a backup that went live runs on unprotected.
  std::string listen;
  int listen_fd = -1;
  // Once live and joined: how far (ms) its own backup may lag before the guest is slowed.
  double max_lag_ms = 100;
  // Where a divergence report is written too (it always goes to stderr); empty: nowhere.
  std::string divergence_report_path;
  // On a divergence while the primary runs on, join it again for a fresh copy of its guest
  // instead of exiting 5.
  bool resync = true;
};

int run_backup(const BackupOptions& options);

}  // namespace ftvm
