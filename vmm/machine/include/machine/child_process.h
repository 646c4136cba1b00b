// A child process of `ftvm pair`: one side of the pair or its arbiter, with its console on
// pipes. Killed and reaped on destruction, so an error in the pair leaves nothing behind, and
// sent SIGTERM when its parent dies, however it dies. Linux sends that signal when the thread
// that spawned the child ends: spawn from a thread that lives as long as the process does.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "vmm/result.h"
#include "vmm/unique_fd.h"

namespace ftvm {

struct ChildOptions {
  bool pipe_stdin = false;
  bool pipe_stdout = false;
  std::vector<int> inherit_fds;  // passed on under the same numbers
};

class ChildProcess {
 public:
  static Result<ChildProcess> spawn(std::string name, const std::vector<std::string>& argv,
                                    const ChildOptions& options);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ~ChildProcess();

  const std::string& name() const { return name_; }
  pid_t pid() const { return pid_; }
  int stdin_fd() const { return stdin_.get(); }
  int stdout_fd() const { return stdout_.get(); }
  void close_stdin() { stdin_.reset(); }
  void close_stdout() { stdout_.reset(); }

  void signal(int number) const;
  // The exit status once it has exited: the exit code, or 128 + the signal that killed it.
  std::optional<int> poll_exit();
  // Waits up to `timeout`; nullopt if it is still running then.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  bool running() { return !poll_exit().has_value(); }

 private:
  ChildProcess(std::string name, pid_t pid, UniqueFd in, UniqueFd out)
      : name_(std::move(name)), pid_(pid), stdin_(std::move(in)), stdout_(std::move(out)) {}

  std::string name_;
  pid_t pid_ = -1;
  UniqueFd stdin_;
  UniqueFd stdout_;
  std::optional<int> status_;
};

// How a child's exit status reads to a person ("exit 0", "killed by SIGKILL").
std::string describe_exit(int status);

}  // namespace ftvm
