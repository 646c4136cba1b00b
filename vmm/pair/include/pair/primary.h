// `ftvm primary`: a VM run as the primary of a protected pair. It waits for its backup, sends it
// the VM, and logs every nondeterministic input to it; output waits for the backup's ack (the
// output rule). When the backup is lost, the arbiter decides whether it runs on alone.
#pragma once

#include <optional>
#include <string>

#include "machine/live_net.h"
#include "machine/vm_session.h"
#include "pair/pair_side.h"

namespace ftvm {

struct PrimaryOptions {
  GuestOptions guest;
  ConsoleOptions console;
  PairSideOptions pair;
  std::string input_path;
  std::optional<double> seconds;
  std::string listen = "127.0.0.1:7301";
  int listen_fd = -1;
  double wait_backup_s = 30;
  std::optional<double> max_delay_ms;  // default_max_delay_ms() when not given
  std::string async_mode = "auto";
  std::string interrupt_window = "auto";  // or "off"
  double max_lag_ms = 100;
  NetOptions net;
};

int run_primary(const PrimaryOptions& options);

}  // namespace ftvm
