// The host's side of the devices without a VM: console input becomes events, and paused input
// (a backup that replays) is not read until it is resumed.
#include "vmm/live_backends.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

namespace ftvm {
namespace {

using namespace std::chrono_literals;

class Pipe {
 public:
  Pipe() { EXPECT_EQ(::pipe(fds_), 0); }
  ~Pipe() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  int read_end() const { return fds_[0]; }
  void write(const std::string& text) {
    EXPECT_EQ(::write(fds_[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }

 private:
  int fds_[2] = {-1, -1};
};

// The console input that arrives within `wait`, concatenated.
std::string input_within(EventQueue& events, std::chrono::milliseconds wait) {
  std::string text;
  const auto until = EventQueue::Clock::now() + wait;
  while (EventQueue::Clock::now() < until) {
    events.wait(until);
    while (auto event = events.try_pop()) {
      if (const auto* input = std::get_if<ConsoleInput>(&*event)) {
        text.append(input->bytes.begin(), input->bytes.end());
      }
    }
  }
  return text;
}

LiveBackends::Options options_for(int input_fd, bool paused) {
  LiveBackends::Options options;
  options.input_fd = input_fd;
  options.handle_termination_signals = false;
  options.input_paused = paused;
  return options;
}

TEST(LiveBackendsTest, ConsoleInputBecomesEvents) {
  Pipe pipe;
  EventQueue events;
  auto backends = LiveBackends::start(events, options_for(pipe.read_end(), false));
  ASSERT_TRUE(backends.ok()) << backends.error().message;
  pipe.write("hello\n");
  EXPECT_EQ(input_within(events, 300ms), "hello\n");
}

// From the code, before: a backup read its console input while it replayed, so input given to
// it reached its guest at the cutover on top of what the log had already given it.
TEST(LiveBackendsTest, PausedInputIsNotReadUntilResumed) {
  Pipe pipe;
  EventQueue events;
  auto backends = LiveBackends::start(events, options_for(pipe.read_end(), true));
  ASSERT_TRUE(backends.ok()) << backends.error().message;
  pipe.write("typed while replaying\n");
  EXPECT_EQ(input_within(events, 200ms), "") << "read input while paused";
  (*backends)->resume_input();
  EXPECT_EQ(input_within(events, 300ms), "typed while replaying\n");
}

}  // namespace
}  // namespace ftvm
