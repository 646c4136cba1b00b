#include "vmm/live_backends.h"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace ftvm {
namespace {

constexpr uint64_t kNanosPerSecond = 1'000'000'000;
// A guest may program the PIT down to a 0.84 us period; a host timer that fast would spend the
// machine on wakeups. Expiries closer together than this are merged (the PIC would coalesce
// them anyway while the guest is busy).
constexpr uint64_t kMinTimerPeriodNs = 50'000;

timespec to_timespec(uint64_t ns) {
  return timespec{static_cast<time_t>(ns / kNanosPerSecond),
                  static_cast<long>(ns % kNanosPerSecond)};
}

Error errno_error(const char* what) {
  return make_error(fmt::format("{}: {}", what, std::strerror(errno)));
}

void drain_counter(int fd) {
  uint64_t count;
  [[maybe_unused]] ssize_t n = ::read(fd, &count, sizeof(count));
}

}  // namespace

Result<std::unique_ptr<LiveBackends>> LiveBackends::start(EventQueue& events, Options options) {
  std::unique_ptr<LiveBackends> backends(new LiveBackends(events, options));
  if (auto r = backends->open_fds(); !r) return r.error();
  backends->thread_ = std::thread([raw = backends.get()] { raw->loop(); });
  return backends;
}

Result<void> LiveBackends::open_fds() {
  pit_timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!pit_timer_.valid()) return errno_error("timerfd_create");
  wakeup_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wakeup_.valid()) return errno_error("eventfd");
  if (options_.time_limit) {
    deadline_timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (!deadline_timer_.valid()) return errno_error("timerfd_create");
    itimerspec spec{};
    spec.it_value = to_timespec(static_cast<uint64_t>(options_.time_limit->count()));
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
    if (::timerfd_settime(deadline_timer_.get(), 0, &spec, nullptr) < 0) {
      return errno_error("timerfd_settime");
    }
  }
  if (options_.handle_termination_signals) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signals_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals_.valid()) return errno_error("signalfd");
  }
  if (options_.max_delay.count() > 0) {
    kick_timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (!kick_timer_.valid()) return errno_error("timerfd_create");
    events_.set_deferred_kick(true);
  }
  probe_timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!probe_timer_.valid()) return errno_error("timerfd_create");
  input_open_ = options_.input_fd >= 0;
  input_resumed_.store(!options_.input_paused);
  return {};
}

LiveBackends::~LiveBackends() {
  quit_.store(true);
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wakeup_.get(), &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
}

void LiveBackends::schedule_pit(const PitTimerSchedule& schedule) {
  {
    std::lock_guard lock(schedule_mutex_);
    pending_schedule_ = schedule;
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wakeup_.get(), &one, sizeof(one));
}

void LiveBackends::resume_input() {
  input_resumed_.store(true);
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wakeup_.get(), &one, sizeof(one));
}

void LiveBackends::push_deferred(Event event) {
  events_.push(std::move(event));
  kick_requested_.store(true);
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wakeup_.get(), &one, sizeof(one));
}

// timerfd_settime is safe from any thread, and the I/O thread polls the timer: the vCPU thread
// arms it itself, without a round trip through the wakeup.
void LiveBackends::kick_after(std::chrono::nanoseconds delay) {
  itimerspec spec{};
  if (delay.count() > 0) spec.it_value = to_timespec(static_cast<uint64_t>(delay.count()));
  ::timerfd_settime(probe_timer_.get(), 0, &spec, nullptr);
}

void LiveBackends::apply_pit_schedule() {
  std::optional<PitTimerSchedule> schedule;
  {
    std::lock_guard lock(schedule_mutex_);
    schedule.swap(pending_schedule_);
  }
  if (!schedule) return;
  itimerspec spec{};
  if (schedule->armed) {
    spec.it_value = to_timespec(schedule->first_expiry_ns);
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
    if (schedule->period_ns != 0) {
      spec.it_interval = to_timespec(std::max(schedule->period_ns, kMinTimerPeriodNs));
    }
  }
  armed_generation_ = schedule->generation;
  ::timerfd_settime(pit_timer_.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
}

void LiveBackends::arm_kick_timer() {
  if (!kick_timer_.valid() || kick_timer_armed_) return;
  set_kick_timer(options_.max_delay);
}

void LiveBackends::set_kick_timer(std::chrono::nanoseconds delay) {
  itimerspec spec{};
  spec.it_value = to_timespec(static_cast<uint64_t>(std::max<int64_t>(delay.count(), 1)));
  ::timerfd_settime(kick_timer_.get(), 0, &spec, nullptr);
  kick_timer_armed_ = true;
}

// Kicks only for an event that has waited the whole max_delay: one the vCPU has not taken
// within that time. A younger one (the vCPU took the older ones at an exit) gets its own full
// delay.
void LiveBackends::on_kick_timer() {
  drain_counter(kick_timer_.get());
  kick_timer_armed_ = false;
  const auto oldest = events_.oldest_pending_since();
  if (!oldest) return;
  const auto waited = EventQueue::Clock::now() - *oldest;
  if (waited >= options_.max_delay) {
    events_.kick_if_pending();
  } else {
    set_kick_timer(
        std::chrono::duration_cast<std::chrono::nanoseconds>(options_.max_delay - waited));
  }
}

void LiveBackends::on_pit_timer() {
  uint64_t expirations = 0;
  if (::read(pit_timer_.get(), &expirations, sizeof(expirations)) != sizeof(expirations)) return;
  // Expiries the guest has not yet acknowledged coalesce in the PIC (as on hardware), so one
  // event per wakeup is enough.
  events_.push(PitExpiry{armed_generation_});
  arm_kick_timer();
}

void LiveBackends::on_input() {
  std::array<uint8_t, 4096> buffer;
  ssize_t n = ::read(options_.input_fd, buffer.data(), buffer.size());
  if (n > 0) {
    events_.push(ConsoleInput{{buffer.begin(), buffer.begin() + n}});
    arm_kick_timer();
  } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
    input_open_ = false;  // end of input: the guest simply sees no more bytes
  }
}

void LiveBackends::on_signal() {
  signalfd_siginfo info{};
  if (::read(signals_.get(), &info, sizeof(info)) != sizeof(info)) return;
  events_.request_stop(fmt::format("received {}", strsignal(static_cast<int>(info.ssi_signo))));
}

void LiveBackends::loop() {
  enum { kWakeup, kPit, kDeadline, kSignals, kInput, kKick, kProbe, kCount };
  while (!quit_.load()) {
    std::array<pollfd, kCount> fds{};
    fds[kWakeup] = {wakeup_.get(), POLLIN, 0};
    fds[kPit] = {pit_timer_.get(), POLLIN, 0};
    fds[kDeadline] = {deadline_timer_.get(), POLLIN, 0};
    fds[kSignals] = {signals_.get(), POLLIN, 0};
    fds[kInput] = {input_open_ && input_resumed_.load() ? options_.input_fd : -1, POLLIN, 0};
    fds[kKick] = {kick_timer_.get(), POLLIN, 0};
    fds[kProbe] = {probe_timer_.get(), POLLIN, 0};
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      events_.request_stop(fmt::format("I/O thread poll failed: {}", std::strerror(errno)));
      return;
    }
    if (fds[kWakeup].revents) {
      drain_counter(wakeup_.get());
      apply_pit_schedule();
      if (kick_requested_.exchange(false)) arm_kick_timer();
    }
    if (fds[kPit].revents) on_pit_timer();
    if (fds[kDeadline].revents) {
      drain_counter(deadline_timer_.get());
      events_.request_stop("time limit reached");
    }
    if (fds[kSignals].revents) on_signal();
    if (fds[kInput].revents) on_input();
    if (fds[kKick].revents) on_kick_timer();
    if (fds[kProbe].revents) {
      drain_counter(probe_timer_.get());
      events_.kick_if_pending();
    }
  }
}

}  // namespace ftvm
