#include "vmm/vcpu_runner.h"

#include <fmt/format.h>
#include <signal.h>

#include <cerrno>
#include <cstring>

namespace ftvm {
namespace {

constexpr int kKickSignal = SIGUSR1;

void on_kick_signal(int) {
  kick_flag_of_this_thread() = 1;
}

}  // namespace

void install_kick_signal_handler() {
  struct sigaction action {};
  action.sa_handler = on_kick_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
  sigaction(kKickSignal, &action, nullptr);
}

VcpuRunner::VcpuRunner(Vcpu& vcpu, Platform& platform, ExecutionDriver& driver)
    : vcpu_(vcpu),
      run_(vcpu.run_page()),
      platform_(platform),
      driver_(driver),
      exits_(platform.pio_bus(), platform.mmio_bus(), vcpu.run_page_bytes()) {}

void VcpuRunner::on_pit_schedule_change(std::function<void(const PitTimerSchedule&)> callback) {
  pit_schedule_callback_ = std::move(callback);
}

void VcpuRunner::notify_pit_schedule() {
  const PitTimerSchedule schedule = platform_.pit().timer_schedule();
  if (schedule.generation == pit_generation_seen_) return;
  pit_generation_seen_ = schedule.generation;
  if (pit_schedule_callback_) pit_schedule_callback_(schedule);
}

bool VcpuRunner::interrupt_deliverable() const {
  return platform_.pic().interrupt_pending() && run_->if_flag != 0;
}

void VcpuRunner::deliver_interrupt() {
  if (!platform_.pic().interrupt_pending()) {
    run_->request_interrupt_window = 0;
    return;
  }
  if (run_->ready_for_interrupt_injection != 0 && run_->if_flag != 0) {
    const uint8_t vector = platform_.pic().acknowledge();
    if (auto r = vcpu_.interrupt(vector); !r) {
      fmt::print(stderr, "ftvm: cannot inject vector {:#x}: {}\n", vector, r.error().message);
    }
    run_->request_interrupt_window = 0;
  } else {
    run_->request_interrupt_window = use_interrupt_window_ ? 1 : 0;
  }
}

std::optional<RunResult> VcpuRunner::enter_guest() {
  const auto now = std::chrono::steady_clock::now();
  const bool first_entry = last_return_time_ == std::chrono::steady_clock::time_point{};
  pacer_.entering(
      now, first_entry ? std::chrono::steady_clock::duration::zero() : now - last_return_time_);
  last_entry_time_ = now;
  const int error = vcpu_.run();
  last_return_time_ = std::chrono::steady_clock::now();
  pacer_.left();
  last_return_asynchronous_ = true;
  if (error == EINTR) {
    exits_.note_interrupted();
    return std::nullopt;
  }
  if (error != 0) {
    const std::string detail = vcpu_.failure_detail();
    return RunResult{RunResult::Reason::kFault, 0,
                     fmt::format("running the vCPU failed: {}{}", std::strerror(error),
                                 detail.empty() ? "" : ": " + detail)};
  }
  const uint64_t before = exits_.exit_count();
  const ExitOutcome outcome = exits_.handle(*run_);
  last_return_asynchronous_ = exits_.exit_count() == before;
  if (!last_return_asynchronous_) instructions_at_exit_ = vcpu_.instructions_retired().value_or(0);
  // A shutdown exit's registers may be the reset state (kvm_amd): keep the ones before it.
  if (registers_synced_ && run_->exit_reason != KVM_EXIT_SHUTDOWN) {
    last_seen_ = RegistersSeen{vcpu_.registers_at_exit(), exits_.exit_count()};
  }
  if (outcome.action == ExitAction::kFault) {
    const std::string detail = vcpu_.failure_detail();
    return RunResult{RunResult::Reason::kFault, 0,
                     detail.empty() ? outcome.fault : outcome.fault + ": " + detail};
  }
  if (outcome.action == ExitAction::kHalt) state_ = VcpuState::kHalted;
  if (auto status = platform_.shutdown_port().requested_status()) {
    return RunResult{RunResult::Reason::kGuestShutdown, *status,
                     fmt::format("guest requested shutdown with status {}", *status)};
  }
  notify_pit_schedule();
  return std::nullopt;
}

VcpuRunner::ResumePoint VcpuRunner::resume_point() const {
  return {exits_.exit_count(), run_->if_flag != 0, run_->ready_for_interrupt_injection != 0};
}

void VcpuRunner::resume_at(const ResumePoint& point) {
  exits_.continue_from(point.exit_count);
  run_->if_flag = point.if_flag ? 1 : 0;
  run_->ready_for_interrupt_injection = point.ready_for_interrupt_injection ? 1 : 0;
  instructions_at_exit_ = vcpu_.instructions_retired().value_or(0);
  resumed_ = true;
}

RunResult VcpuRunner::run() {
  if (auto bound = pacer_.bind_to_current_thread(kKickSignal); !bound) {
    return RunResult{RunResult::Reason::kFault, 0,
                     "cannot set up the vCPU's kick timer: " + bound.error().message};
  }
  registers_synced_ = vcpu_.sync_registers_on_exit();
  if (exits_.exit_count() == 0 && !resumed_) {
    instructions_at_exit_ = vcpu_.instructions_retired().value_or(0);
  }
  if (auto regs = vcpu_.get_regs()) last_seen_ = RegistersSeen{*regs, exits_.exit_count()};
  notify_pit_schedule();
  auto stop = [this](RunResult result) {
    state_ = VcpuState::kStopped;
    return result;
  };
  for (;;) {
    const BetweenExits at{exits_.exit_count(), last_return_asynchronous_,
                          state_ == VcpuState::kHalted};
    DriverTurn turn = driver_.between_exits(*this, at);
    if (turn.stop) return stop(*turn.stop);
    // Nothing may enter the guest at an asynchronous point unless the driver put (and logged)
    // an input there: the point would not be reproducible.
    const bool may_deliver = !at.asynchronous || turn.applied_inputs;
    if (!at.asynchronous && !turn.moved_past_exit) platform_.offer_pending_input();
    if (state_ == VcpuState::kHalted) {
      if (!interrupt_deliverable()) {
        // HLT with nothing to deliver (or IF=0): the guest sleeps until an input arrives.
        if (auto result = driver_.idle(*this, at)) return stop(*result);
        continue;
      }
      state_ = VcpuState::kRunning;
    }
    if (may_deliver) deliver_interrupt();
    if (auto result = enter_guest()) return stop(*result);
  }
}

}  // namespace ftvm
