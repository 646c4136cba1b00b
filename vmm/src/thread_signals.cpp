#include "vmm/thread_signals.h"

#include <signal.h>

namespace ftvm {

void block_all_signals_in_this_thread() {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
}

}  // namespace ftvm
