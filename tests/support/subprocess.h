// Runs a program as a child process with its stdin, stdout and stderr on pipes, for tests
// that drive ftvm (and, later, pairs of ftvm processes) the way a user does.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
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

  using Clock = std::chrono::steady_clock;

  // Writes to the child's stdin (while it runs, too); bytes to a child that closed its stdin
  // are dropped.
  void write_stdin(const std::string& bytes);
  void close_stdin();
  // Reads output until `needle` has appeared on stdout or `timeout` passes; true if it did.
  bool wait_for_stdout(const std::string& needle, std::chrono::milliseconds timeout);
  // The same for stderr.
  bool wait_for_stderr(const std::string& needle, std::chrono::milliseconds timeout);
  // Reads whatever output arrives during `budget` (returning early only once both streams
  // ended), so that a test driving several children keeps every pipe drained.
  void read_output_for(std::chrono::milliseconds budget);
  void send_signal(int signal);
  // True once the child has exited (reaps it without waiting; finish() then collects it).
  bool exited();
  // Waits for exit (killing the child with SIGKILL after `timeout`) and collects all output.
  ProcessResult finish(std::chrono::milliseconds timeout);
  const std::string& stdout_so_far() const { return out_; }
  const std::string& stderr_so_far() const { return err_; }
  // When the byte at `offset` of stdout (stderr) was read, if it has been: the arrival times
  // of output, as precise as the caller keeps reading (wait_for_*, read_output_for).
  std::optional<Clock::time_point> stdout_arrival(size_t offset) const;
  std::optional<Clock::time_point> stderr_arrival(size_t offset) const;
  pid_t pid() const { return pid_; }

 private:
  struct Arrival {
    Clock::time_point at;
    size_t end;  // the stream's size after this read
  };
  static std::optional<Clock::time_point> arrival(const std::vector<Arrival>& arrivals,
                                                  size_t offset);
  bool wait_for(const std::string& stream, int fd_index, const std::string& needle,
                std::chrono::milliseconds timeout);
  void pump(std::chrono::milliseconds budget);
  pid_t pid_ = -1;
  std::optional<int> wait_status_;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  std::string out_;
  std::string err_;
  std::vector<Arrival> out_arrivals_;
  std::vector<Arrival> err_arrivals_;
  std::optional<ProcessResult> result_;
};

// A fresh directory under the system temp dir for a test's files (sockets, keys, state),
// removed with everything in it at scope exit.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "ftvm-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Convenience: runs to completion with `input` on stdin.
ProcessResult run_process(std::vector<std::string> argv, const std::string& input,
                          std::chrono::milliseconds timeout);

}  // namespace ftvm::testing
