// Runs a program as a child process with its stdin, stdout and stderr on pipes, for tests
// that drive ftvm (and, later, pairs of ftvm processes) the way a user does.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace ftvm::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 if killed by a signal
  int signal = 0;
  std::string out;
  std::string err;
  bool timed_out = false;
};

class Subprocess {
 public:
  explicit Subprocess(std::vector<std::string> argv);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  void write_stdin(const std::string& bytes);
  void close_stdin();
  // Reads output until `needle` has appeared on stdout or `timeout` passes; true if it did.
  bool wait_for_stdout(const std::string& needle, std::chrono::milliseconds timeout);
  void send_signal(int signal);
  // Waits for exit (killing the child with SIGKILL after `timeout`) and collects all output.
  ProcessResult finish(std::chrono::milliseconds timeout);
  const std::string& stdout_so_far() const { return out_; }
  pid_t pid() const { return pid_; }

 private:
  void pump(std::chrono::milliseconds budget);
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  std::string out_;
  std::string err_;
  std::optional<ProcessResult> result_;
};

// Convenience: runs to completion with `input` on stdin.
ProcessResult run_process(std::vector<std::string> argv, const std::string& input,
                          std::chrono::milliseconds timeout);

}  // namespace ftvm::testing
