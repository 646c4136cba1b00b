// `ftvm run`: one unprotected VM, fed from the host.
#pragma once

#include <optional>
#include <string>

#include "machine/live_net.h"
#include "machine/vm_session.h"

namespace ftvm {

struct RunOptions {
  GuestOptions guest;
  ConsoleOptions console;
  std::string input_path;  // empty = stdin
  std::optional<double> seconds;
  NetOptions net;
};

int run_vm(const RunOptions& options);

}  // namespace ftvm
