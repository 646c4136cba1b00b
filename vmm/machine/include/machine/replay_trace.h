// `ftvm replay`: the VM a trace describes, rebuilt and driven through the trace's inputs; it
// checks the recording's output and state digests as it goes and reports the first divergence.
#pragma once

#include <string>

#include "machine/vm_session.h"

namespace ftvm {

struct ReplayTraceOptions {
  std::string trace_dir;
  ConsoleOptions console;
  std::string kvm_device = "/dev/kvm";
  std::string accel = "auto";
};

int replay_trace(const ReplayTraceOptions& options);

}  // namespace ftvm
