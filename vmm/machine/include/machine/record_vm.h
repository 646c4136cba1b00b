// `ftvm record`: a VM fed from the host whose nondeterministic inputs are written to a trace
// directory, for `ftvm replay` to reproduce exactly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "machine/live_net.h"
#include "machine/vm_session.h"

namespace ftvm {

struct RecordVmOptions {
  GuestOptions guest;
  ConsoleOptions console;
  std::string input_path;
  std::optional<double> seconds;
  std::string trace_dir;
  bool overwrite = false;
  std::optional<double> max_delay_ms;  // default_max_delay_ms() when not given
  std::string async_mode = "auto";
  std::string interrupt_window = "auto";  // or "off"
  uint64_t digest_ms = 500;
  NetOptions net;
};

int record_vm(const RecordVmOptions& options);

}  // namespace ftvm
