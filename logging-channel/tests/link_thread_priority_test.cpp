#include "logging_channel/link_thread_priority.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

namespace ftvm::channel {
namespace {

int nice_of_this_thread() {
  errno = 0;
  const int nice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
  EXPECT_EQ(errno, 0);
  return nice;
}

// Whether this process may lower a thread's nice value at all (root, CAP_SYS_NICE,
// RLIMIT_NICE): asked in a thread of its own, which then ends.
bool may_lower_nice(int from) {
  bool may = false;
  std::thread([&] {
    may = ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), from - 1) == 0;
  }).join();
  return may;
}

TEST(LinkThreadPriorityTest, OnlyTheCallingThreadIsFavouredAndOnlyWhereAllowed) {
  const int before = nice_of_this_thread();
  int favoured = 1000;
  std::thread([&] { favoured = favour_link_thread(); }).join();
  EXPECT_EQ(nice_of_this_thread(), before) << "another thread's priority changed";
  if (before <= kLinkThreadNice) {
    EXPECT_EQ(favoured, before) << "a thread favoured already was made less so";
  } else if (may_lower_nice(before)) {
    EXPECT_EQ(favoured, kLinkThreadNice);
  } else {
    EXPECT_EQ(favoured, before) << "not allowed, so the thread keeps what it had";
  }
}

}  // namespace
}  // namespace ftvm::channel
