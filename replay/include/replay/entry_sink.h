// Where a recorder's entries go: a trace file (TraceWriter), and later the logging channel.
#pragma once

#include "replay/trace_entry.h"
#include "vmm/result.h"

namespace ftvm::replay {

class EntrySink {
 public:
  virtual ~EntrySink() = default;
  virtual Result<void> append(const TraceEntry& entry) = 0;
};

}  // namespace ftvm::replay
