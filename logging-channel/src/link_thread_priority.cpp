#include "logging_channel/link_thread_priority.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>

namespace ftvm::channel {

namespace {

int nice_of(id_t thread) {
  errno = 0;
  const int nice = ::getpriority(PRIO_PROCESS, thread);
  return errno == 0 ? nice : 0;
}

}  // namespace

// On Linux a thread id names one thread for setpriority, so the vCPU threads keep theirs.
int favour_link_thread() {
  const auto self = static_cast<id_t>(::gettid());
  // A process started favoured already (nice below ours) keeps that.
  if (nice_of(self) > kLinkThreadNice) {
    ::setpriority(PRIO_PROCESS, self, kLinkThreadNice);  // may fail (EACCES): keep what it had
  }
  return nice_of(self);
}

}  // namespace ftvm::channel
