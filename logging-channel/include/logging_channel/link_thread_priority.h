// The channel's link threads answer the peer: the backup's acks free every held output, and
// either side's silence makes the other declare it. On a host whose CPUs the vCPUs keep busy
// (two replaying guests on two cores) a link thread woken by a frame would otherwise wait for
// a turn behind them, and every held output with it. Measured with `ftvm pair` on a 2-core
// kvm_pvm host: output hold p50 1.0-1.4 ms at the default priority, 0.2-0.6 ms at nice -10.
#pragma once

namespace ftvm::channel {

// What the link threads ask for: enough to be picked soon after they wake, while they still
// share the CPU with everything else when (rarely) they have much to do.
constexpr int kLinkThreadNice = -10;

// Gives the calling thread (only it) kLinkThreadNice where the process may (root,
// CAP_SYS_NICE or RLIMIT_NICE) and the thread's nice is higher, and returns the thread's nice
// value afterwards: the old one where it may not, which costs latency, not correctness.
int favour_link_thread();

}  // namespace ftvm::channel
