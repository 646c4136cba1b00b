// What a protected primary holds back besides console bytes: the guest's disk writes
// (DiskGate) and transmitted frames (NetGate). Each is produced during an exit, tagged after it
// with the log position the backup must acknowledge (the exit's horizon, like that exit's
// console bytes), and released on the acks, while the lease runs; opened when the primary runs
// on unprotected, discarded when it lost.
#pragma once

#include <cstdint>

namespace ftvm::channel {

class HeldOutput {
 public:
  virtual ~HeldOutput() = default;
  // vCPU thread, after the exit: what it produced needs `required_lsn` entries acknowledged.
  // Returns whether it produced any (the log is then worth sending at once).
  virtual bool tag(uint64_t required_lsn) = 0;
  // Any thread: the backup acknowledged `acked_lsn` entries.
  virtual void release_through(uint64_t acked_lsn) = 0;
  // Unprotected from now on (this side won the arbiter): everything held goes, later output
  // passes straight through.
  virtual void open() = 0;
  // Protected again (a backup joined this open side): output from now on waits for acks of
  // `first_lsn` and on, as before open(). Nothing to do on a side that is not open.
  virtual void protect_again(uint64_t first_lsn) = 0;
  // This side halts (it lost the arbiter): nothing held, and nothing later, leaves.
  virtual void discard() = 0;
};

}  // namespace ftvm::channel
