// The live (host-driven) side of the devices: one I/O thread that turns host happenings into
// events on the EventQueue. PIT expiries from a timerfd armed on the PIT's own schedule,
// console input from a file descriptor, SIGINT/SIGTERM and the run's time limit as stop
// requests. A replaying VM has no such thread: its events come from the log instead.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "vmm/devices/pit8254.h"
#include "vmm/event_queue.h"
#include "vmm/result.h"
#include "vmm/unique_fd.h"

namespace ftvm {

class LiveBackends {
 public:
  struct Options {
    int input_fd = -1;  // console input; -1 for none. Not owned.
    // Console input is not read until resume_input(): a backup's guest takes input only from
    // the log while it replays, and from its own input only once it is live.
    bool input_paused = false;
    std::optional<std::chrono::nanoseconds> time_limit;
    bool handle_termination_signals = true;
    // How long an event may wait for the guest's next exit before the vCPU is kicked (0: kick
    // at once). See EventQueue::set_deferred_kick.
    std::chrono::nanoseconds max_delay{0};
  };

  // Must be called before any other thread exists when handling signals, because SIGINT and
  // SIGTERM are blocked process-wide and read from a signalfd.
  static Result<std::unique_ptr<LiveBackends>> start(EventQueue& events, Options options);
  ~LiveBackends();

  // Thread-safe: re-arms the PIT timer on the vCPU's request.
  void schedule_pit(const PitTimerSchedule& schedule);
  // Thread-safe: queues an event produced on another thread (the vCPU's) with the same
  // deferred kick as the backends' own: it waits up to max_delay for the guest's next exit.
  void push_deferred(Event event);
  // Thread-safe: kicks the vCPU after `delay` if an event is still waiting then; a zero delay
  // cancels. The recorder's probes use it to bound how long an input waits for RIP to come
  // round (replay/landmark_choice.h).
  void kick_after(std::chrono::nanoseconds delay);
  // Thread-safe: from now on console input is read (Options::input_paused).
  void resume_input();

 private:
  LiveBackends(EventQueue& events, Options options) : events_(events), options_(options) {}
  Result<void> open_fds();
  void loop();
  void on_pit_timer();
  void on_input();
  void on_signal();
  void arm_kick_timer();
  void set_kick_timer(std::chrono::nanoseconds delay);
  void on_kick_timer();
  void apply_pit_schedule();

  EventQueue& events_;
  Options options_;
  UniqueFd pit_timer_;
  UniqueFd deadline_timer_;
  UniqueFd signals_;
  UniqueFd wakeup_;
  UniqueFd kick_timer_;
  UniqueFd probe_timer_;  // kick_after's
  bool kick_timer_armed_ = false;
  std::atomic<bool> kick_requested_{false};
  std::atomic<bool> input_resumed_{false};
  std::mutex schedule_mutex_;
  std::optional<PitTimerSchedule> pending_schedule_;
  uint64_t armed_generation_ = ~0ull;
  bool input_open_ = false;
  std::atomic<bool> quit_{false};
  std::thread thread_;
};

}  // namespace ftvm
