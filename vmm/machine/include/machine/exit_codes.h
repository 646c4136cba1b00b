// Process exit codes of the ftvm command, documented in README.md.
#pragma once

namespace ftvm {

enum ExitCode : int {
  kExitOk = 0,            // the guest shut down with status 0, or the run was stopped on request
  kExitUsage = 1,         // bad command line
  kExitSetup = 2,         // could not build the VM: no KVM, bad image, bad file, ...
  kExitGuestFault = 3,    // the guest died (triple fault) or KVM refused to go on
  kExitGuestFailure = 4,  // the guest shut down with a nonzero status
  kExitDivergence = 5,    // a replay diverged from its recording
  kExitLostArbiter = 6,   // a side of a pair lost the arbiter's test-and-set: the other is live
  kExitNoArbiter = 7,     // a side of a pair lost its peer and could not reach the arbiter
  kExitPeer = 8,          // a side of a pair could not start with its peer (unreachable, refused)
};

}  // namespace ftvm
