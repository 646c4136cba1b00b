#include "machine/child_process.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace ftvm {
namespace {

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Result<Pipe> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return make_error(fmt::format("cannot create a pipe: {}", std::strerror(errno)));
  }
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// After fork, before exec: only async-signal-safe calls.
[[noreturn]] void exec_child(const std::vector<std::string>& argv, int in, int out,
                             const std::vector<int>& inherit, pid_t parent) {
  // The child ends with its parent, even one killed with SIGKILL, which runs no destructor: a
  // primary whose `ftvm pair` was killed otherwise ran on alone, unprotected, its console read
  // by nobody. SIGTERM, so that a side ends in order (a primary says goodbye, a lease helper
  // gives its port back). The parent may have died before this line: then at once.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) ::_exit(128 + SIGTERM);
  if (in >= 0) ::dup2(in, STDIN_FILENO);
  if (out >= 0) ::dup2(out, STDOUT_FILENO);
  for (int fd : inherit) ::fcntl(fd, F_SETFD, 0);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  ::_exit(127);
}

}  // namespace

std::string describe_exit(int status) {
  if (status > 128) {
    const char* name = sigabbrev_np(status - 128);
    return fmt::format("killed by SIG{}", name ? name : "?");
  }
  return fmt::format("exit {}", status);
}

Result<ChildProcess> ChildProcess::spawn(std::string name, const std::vector<std::string>& argv,
                                         const ChildOptions& options) {
  std::optional<Pipe> in;
  std::optional<Pipe> out;
  if (options.pipe_stdin) {
    auto p = make_pipe();
    if (!p) return p.error();
    in = std::move(*p);
  }
  if (options.pipe_stdout) {
    auto p = make_pipe();
    if (!p) return p.error();
    out = std::move(*p);
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0)
    return make_error(fmt::format("cannot start the {}: {}", name, std::strerror(errno)));
  if (pid == 0) {
    exec_child(argv, in ? in->read.get() : -1, out ? out->write.get() : -1, options.inherit_fds,
               parent);
  }
  return ChildProcess(std::move(name), pid, in ? std::move(in->write) : UniqueFd(),
                      out ? std::move(out->read) : UniqueFd());
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : name_(std::move(other.name_)),
      pid_(std::exchange(other.pid_, -1)),
      stdin_(std::move(other.stdin_)),
      stdout_(std::move(other.stdout_)),
      status_(other.status_) {}

ChildProcess::~ChildProcess() {
  if (pid_ <= 0 || status_) return;
  ::kill(pid_, SIGKILL);
  int status;
  ::waitpid(pid_, &status, 0);
}

void ChildProcess::signal(int number) const {
  if (pid_ > 0 && !status_) ::kill(pid_, number);
}

std::optional<int> ChildProcess::poll_exit() {
  if (status_ || pid_ <= 0) return status_;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
  status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return status_;
}

std::optional<int> ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!poll_exit()) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return status_;
}

}  // namespace ftvm
