#include "vmm/event_queue.h"

namespace ftvm {

void EventQueue::set_kick(std::function<void()> kick) {
  std::lock_guard lock(mutex_);
  kick_ = std::move(kick);
}

void EventQueue::set_deferred_kick(bool deferred) {
  std::lock_guard lock(mutex_);
  deferred_kick_ = deferred;
}

void EventQueue::kick_locked_out() {
  std::function<void()> kick;
  {
    std::lock_guard lock(mutex_);
    kick = kick_;
  }
  changed_.notify_all();
  if (kick) kick();
}

void EventQueue::push(Event event) {
  bool deferred;
  {
    std::lock_guard lock(mutex_);
    if (events_.empty()) oldest_pending_since_ = Clock::now();
    events_.push_back(std::move(event));
    deferred = deferred_kick_;
  }
  if (deferred) {
    changed_.notify_all();
  } else {
    kick_locked_out();
  }
}

void EventQueue::kick_if_pending() {
  if (has_pending()) kick_locked_out();
}

std::optional<EventQueue::Clock::time_point> EventQueue::oldest_pending_since() const {
  std::lock_guard lock(mutex_);
  if (events_.empty()) return std::nullopt;
  return oldest_pending_since_;
}

bool EventQueue::has_pending() const {
  std::lock_guard lock(mutex_);
  return !events_.empty();
}

// GCC 12 warns that moving a variant of vector-holding alternatives out of the deque may read
// an uninitialized vector (a false positive of its variant analysis, seen once Event had two
// such alternatives); nothing here is uninitialized.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
std::optional<Event> EventQueue::try_pop() {
  std::lock_guard lock(mutex_);
  if (events_.empty()) return std::nullopt;
  std::optional<Event> event(std::in_place, std::move(events_.front()));
  events_.pop_front();
  return event;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

void EventQueue::request_stop(std::string reason) {
  std::function<void(const std::string&)> listener;
  std::string first;
  {
    std::lock_guard lock(mutex_);
    if (!stop_reason_) {
      stop_reason_ = std::move(reason);
      listener = stop_listener_;
      first = *stop_reason_;
    }
  }
  kick_locked_out();
  if (listener) listener(first);
}

void EventQueue::set_stop_listener(std::function<void(const std::string&)> listener) {
  std::optional<std::string> already;
  {
    std::lock_guard lock(mutex_);
    stop_listener_ = listener;
    already = stop_reason_;
  }
  if (already && listener) listener(*already);
}

std::optional<std::string> EventQueue::stop_reason() const {
  std::lock_guard lock(mutex_);
  return stop_reason_;
}

void EventQueue::wait(Clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  changed_.wait_until(lock, deadline, [&] { return !events_.empty() || stop_reason_; });
}

}  // namespace ftvm
