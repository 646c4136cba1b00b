#include "machine/child_process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <thread>

namespace ftvm {
namespace {

using namespace std::chrono_literals;

// Waits up to `timeout` for `pid`, a child of this process, to end; its exit status, or none.
std::optional<int> reap(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) != pid) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
  return status;
}

TEST(ChildProcessTest, AChildEndsWithItsParentEvenOneKilledWithSigkill) {
  // The orphaned child comes to this process, which can then see it end (and reap it).
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  int pids[2];
  ASSERT_EQ(::pipe(pids), 0);
  // The parent: a process of its own, so that the test can kill it outright.
  const pid_t parent = ::fork();
  ASSERT_GE(parent, 0);
  if (parent == 0) {
    auto child = ChildProcess::spawn("sleeper", {"/bin/sleep", "30"}, ChildOptions{});
    const pid_t pid = child ? child->pid() : -1;
    [[maybe_unused]] auto n = ::write(pids[1], &pid, sizeof(pid));
    ::pause();
    ::_exit(0);
  }
  ::close(pids[1]);
  pid_t child = -1;
  ASSERT_EQ(::read(pids[0], &child, sizeof(child)), static_cast<ssize_t>(sizeof(child)));
  ::close(pids[0]);
  ASSERT_GT(child, 0) << "the parent could not start its child";

  ::kill(parent, SIGKILL);
  ASSERT_TRUE(reap(parent, 5s));
  const auto status = reap(child, 5s);
  if (!status) ::kill(child, SIGKILL);
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
  ASSERT_TRUE(status) << "the child outlived its parent's SIGKILL";
  // SIGTERM from the kernel, or, where the parent died before the child had asked for that
  // signal, the child's own exit with the same meaning.
  const bool ended_with_parent = (WIFSIGNALED(*status) && WTERMSIG(*status) == SIGTERM) ||
                                 (WIFEXITED(*status) && WEXITSTATUS(*status) == 128 + SIGTERM);
  EXPECT_TRUE(ended_with_parent) << "status " << *status;
}

}  // namespace
}  // namespace ftvm
