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
  void push(Event event);
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
  std::optional<std::string> stop_reason_;
  std::function<void()> kick_;
};

}  // namespace ftvm
