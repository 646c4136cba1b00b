// The hand-off from backend threads to the vCPU thread. push() wakes the vCPU wherever it is:
// blocked in a halt (condition variable) or running guest code (the kick callback, which
// forces KVM_RUN to return).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "vmm/event.h"

namespace ftvm {

class EventQueue {
 public:
  using Clock = std::chrono::steady_clock;

  void set_kick(std::function<void()> kick);
  // Also told of a stop request (the first one), for a vCPU that waits elsewhere than on this
  // queue (a backup waits on its log). Called at once if a stop was already requested.
  void set_stop_listener(std::function<void(const std::string&)> listener);
  // Epoch-style delivery: with a delay, push() does not kick a running vCPU, so the event waits
  // for the guest's next exit (a synchronous landmark, free to replay); the producer calls
  // kick_if_pending() when the delay has passed. A halted vCPU is always woken at once.
  void set_deferred_kick(bool deferred);
  void push(Event event);
  void kick_if_pending();
  bool has_pending() const;
  // When the oldest event still waiting was pushed (the queue went from empty to non-empty).
  std::optional<Clock::time_point> oldest_pending_since() const;
  std::optional<Event> try_pop();
  // Asks the vCPU loop to stop at its next opportunity; the first reason wins.
  void request_stop(std::string reason);
  std::optional<std::string> stop_reason() const;
  // Blocks until an event or a stop request is present, or `deadline` passes.
  void wait(Clock::time_point deadline);

 private:
  void kick_locked_out();
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Event> events_;
  Clock::time_point oldest_pending_since_{};
  std::optional<std::string> stop_reason_;
  std::function<void()> kick_;
  std::function<void(const std::string&)> stop_listener_;
  bool deferred_kick_ = false;
};

}  // namespace ftvm
