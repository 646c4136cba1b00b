// Kicks that leave the guest a fair slice. A kick forces KVM_RUN to return so the VMM can apply
// an input; but where handling an exit costs more than the time between inputs (a slow or
// loaded host, a nested or emulated KVM, a recorder that checkpoints), kicking at once would
// end every KVM_RUN before the guest ran an instruction, and the guest would never progress.
// So a kick waits until the guest has run, in the current KVM_RUN, at least as long as the VMM
// spent outside it before entering (between kMinSlice and kMaxSlice): the guest keeps at least
// about half of its vCPU thread however often it is kicked. On a host where an exit costs
// microseconds the wait is as short.
#pragma once

#include <signal.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdint>

#include "vmm/result.h"

namespace ftvm {

// The kick signal's handler raises this thread's flag. KVM needs no flag (the signal ends
// KVM_RUN with EINTR); the software CPU runs on the vCPU thread itself and looks at the flag
// between two instructions.
volatile sig_atomic_t& kick_flag_of_this_thread();

class KickPacer {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::microseconds kMinSlice{100};
  static constexpr std::chrono::milliseconds kMaxSlice{50};

  // The slice a guest is owed for an entry after `host_time` spent outside the guest.
  static Clock::duration slice_for(Clock::duration host_time);
  // When a kick asked for at `now` may end the guest's run entered at `entered` with `slice`
  // owed: `now` itself once the slice is served.
  static Clock::time_point kick_time(Clock::time_point now, Clock::time_point entered,
                                     Clock::duration slice);

  KickPacer() = default;
  ~KickPacer();
  KickPacer(const KickPacer&) = delete;
  KickPacer& operator=(const KickPacer&) = delete;

  // On the vCPU thread, before its first entry: kicks become `signal` sent to this thread.
  // Once; later calls do nothing.
  Result<void> bind_to_current_thread(int signal);
  // On the vCPU thread, right before KVM_RUN, with the time spent outside the guest since the
  // last return. A kick asked for while the guest was outside is served after the slice.
  void entering(Clock::time_point now, Clock::duration host_time);
  // On the vCPU thread, right after KVM_RUN returned: the VMM now looks at everything a kick
  // was asked for, so pending kicks are done.
  void left();
  // Any thread: make KVM_RUN return once the guest has had its slice.
  void kick();

 private:
  void signal_at(Clock::time_point when);

  timer_t timer_{};
  // Set once the timer exists; kick() on other threads reads it before touching timer_.
  std::atomic<bool> bound_{false};
  // Entry time in steady-clock nanoseconds while the guest runs, 0 outside KVM_RUN.
  std::atomic<int64_t> entered_ns_{0};
  std::atomic<int64_t> slice_ns_{0};
  std::atomic<bool> requested_{false};
};

}  // namespace ftvm
