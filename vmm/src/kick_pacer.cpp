#include "vmm/kick_pacer.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace ftvm {

volatile sig_atomic_t& kick_flag_of_this_thread() {
  // Initial-exec TLS in the executable: safe to touch from a signal handler.
  static thread_local volatile sig_atomic_t kicked = 0;
  return kicked;
}

namespace {

using Clock = KickPacer::Clock;

int64_t to_ns(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

Clock::time_point from_ns(int64_t ns) {
  return Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
}

}  // namespace

Clock::duration KickPacer::slice_for(Clock::duration host_time) {
  return std::clamp<Clock::duration>(host_time, kMinSlice, kMaxSlice);
}

Clock::time_point KickPacer::kick_time(Clock::time_point now, Clock::time_point entered,
                                       Clock::duration slice) {
  return std::max(now, entered + slice);
}

KickPacer::~KickPacer() {
  if (bound_.load()) ::timer_delete(timer_);
}

Result<void> KickPacer::bind_to_current_thread(int signal) {
  if (bound_.load()) return {};
  sigevent event{};
  event.sigev_notify = SIGEV_THREAD_ID;
  event.sigev_signo = signal;
  event._sigev_un._tid = static_cast<pid_t>(::syscall(SYS_gettid));
  if (::timer_create(CLOCK_MONOTONIC, &event, &timer_) != 0) {
    return make_error(std::string("timer_create: ") + std::strerror(errno));
  }
  bound_.store(true);
  return {};
}

void KickPacer::signal_at(Clock::time_point when) {
  // steady_clock is CLOCK_MONOTONIC on Linux, so its time points arm the timer directly.
  const int64_t ns = std::max<int64_t>(to_ns(when), 1);
  itimerspec spec{};
  spec.it_value.tv_sec = ns / 1'000'000'000;
  spec.it_value.tv_nsec = ns % 1'000'000'000;
  ::timer_settime(timer_, TIMER_ABSTIME, &spec, nullptr);
}

void KickPacer::entering(Clock::time_point now, Clock::duration host_time) {
  const auto slice = slice_for(host_time);
  slice_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(slice).count());
  entered_ns_.store(to_ns(now));
  // Paired with kick(): it stores requested_ then loads entered_ns_, this stores entered_ns_
  // then loads requested_ (both sequentially consistent), so at least one of the two sees the
  // other and the kick is not lost.
  if (requested_.load() && bound_.load()) signal_at(now + slice);
}

void KickPacer::left() {
  entered_ns_.store(0);
  requested_.store(false);
  if (bound_.load()) {
    const itimerspec disarm{};
    ::timer_settime(timer_, 0, &disarm, nullptr);
  }
}

void KickPacer::kick() {
  requested_.store(true);
  const int64_t entered = entered_ns_.load();
  if (entered == 0 || !bound_.load()) return;  // served on entry
  signal_at(kick_time(Clock::now(), from_ns(entered), std::chrono::nanoseconds(slice_ns_.load())));
}

}  // namespace ftvm
