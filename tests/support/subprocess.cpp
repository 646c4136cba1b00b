#include "subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <stdexcept>

namespace ftvm::testing {
namespace {

using Clock = Subprocess::Clock;

void make_pipe(int fds[2]) {
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
}

}  // namespace

Subprocess::Subprocess(std::vector<std::string> argv) {
  int in[2], out[2], err[2];
  make_pipe(in);
  make_pipe(out);
  make_pipe(err);
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(in[0], STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(err[1], STDERR_FILENO);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  stdin_fd_ = in[1];
  stdout_fd_ = out[0];
  stderr_fd_ = err[0];
  ::signal(SIGPIPE, SIG_IGN);
}

Subprocess::~Subprocess() {
  if (!result_) finish(std::chrono::milliseconds(0));
}

void Subprocess::write_stdin(const std::string& bytes) {
  size_t done = 0;
  while (stdin_fd_ >= 0 && done < bytes.size()) {
    ssize_t n = ::write(stdin_fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

void Subprocess::close_stdin() {
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  stdin_fd_ = -1;
}

void Subprocess::pump(std::chrono::milliseconds budget) {
  std::array<pollfd, 2> fds = {pollfd{stdout_fd_, POLLIN, 0}, pollfd{stderr_fd_, POLLIN, 0}};
  if (::poll(fds.data(), fds.size(), static_cast<int>(budget.count())) <= 0) return;
  std::array<char, 65536> buffer;
  for (size_t i = 0; i < fds.size(); ++i) {
    if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
    ssize_t n = ::read(fds[i].fd, buffer.data(), buffer.size());
    if (n > 0) {
      std::string& stream = i == 0 ? out_ : err_;
      stream.append(buffer.data(), static_cast<size_t>(n));
      (i == 0 ? out_arrivals_ : err_arrivals_).push_back({Clock::now(), stream.size()});
    } else if (n == 0) {
      ::close(fds[i].fd);
      (i == 0 ? stdout_fd_ : stderr_fd_) = -1;
    }
  }
}

bool Subprocess::wait_for(const std::string& stream, int fd_index, const std::string& needle,
                          std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (stream.find(needle) == std::string::npos) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    const int fd = fd_index == 0 ? stdout_fd_ : stderr_fd_;
    if (left.count() <= 0 || fd < 0) return stream.find(needle) != std::string::npos;
    pump(std::min(left, std::chrono::milliseconds(50)));
  }
  return true;
}

bool Subprocess::wait_for_stdout(const std::string& needle, std::chrono::milliseconds timeout) {
  return wait_for(out_, 0, needle, timeout);
}

bool Subprocess::wait_for_stderr(const std::string& needle, std::chrono::milliseconds timeout) {
  return wait_for(err_, 1, needle, timeout);
}

void Subprocess::read_output_for(std::chrono::milliseconds budget) {
  const auto deadline = Clock::now() + budget;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 || (stdout_fd_ < 0 && stderr_fd_ < 0)) return;
    pump(left);
  }
}

bool Subprocess::exited() {
  if (result_ || wait_status_) return true;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
  wait_status_ = status;
  return true;
}

std::optional<Clock::time_point> Subprocess::arrival(const std::vector<Arrival>& arrivals,
                                                     size_t offset) {
  for (const Arrival& a : arrivals) {
    if (a.end > offset) return a.at;
  }
  return std::nullopt;
}

std::optional<Clock::time_point> Subprocess::stdout_arrival(size_t offset) const {
  return arrival(out_arrivals_, offset);
}

std::optional<Clock::time_point> Subprocess::stderr_arrival(size_t offset) const {
  return arrival(err_arrivals_, offset);
}

void Subprocess::send_signal(int signal) {
  if (!result_ && !wait_status_) ::kill(pid_, signal);
}

ProcessResult Subprocess::finish(std::chrono::milliseconds timeout) {
  if (result_) return *result_;
  close_stdin();
  ProcessResult result;
  const auto deadline = Clock::now() + timeout;
  int status = wait_status_.value_or(0);
  while (!wait_status_) {
    pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) break;
    if (Clock::now() >= deadline) {
      result.timed_out = true;
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    pump(std::chrono::milliseconds(20));
  }
  while (stdout_fd_ >= 0 || stderr_fd_ >= 0) pump(std::chrono::milliseconds(100));
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  result.out = out_;
  result.err = err_;
  result_ = result;
  return result;
}

TempDir::TempDir(const std::string& prefix) {
  static int counter = 0;
  path_ = std::filesystem::temp_directory_path() /
          (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

ProcessResult run_process(std::vector<std::string> argv, const std::string& input,
                          std::chrono::milliseconds timeout) {
  Subprocess process(std::move(argv));
  process.write_stdin(input);
  return process.finish(timeout);
}

}  // namespace ftvm::testing
