// The vCPU loop as an explicit state machine.
//
//   kRunning --HLT exit--> kHalted --interrupt deliverable--> kRunning
//   any --driver stop / guest shutdown / fault--> kStopped
//
// Between two exits (and only there) the ExecutionDriver applies inputs; then the runner
// offers waiting console input (after deterministic exits only) and delivers interrupts:
// KVM_INTERRUPT when the guest can take one, otherwise a request for the interrupt-window
// exit, which is itself a deterministic point.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

#include "vmm/crash_report.h"
#include "vmm/execution_driver.h"
#include "vmm/exit_handler.h"
#include "vmm/kick_pacer.h"
#include "vmm/platform.h"
#include "vmm/vcpu.h"

namespace ftvm {

enum class VcpuState { kRunning, kHalted, kStopped };

class VcpuRunner {
 public:
  VcpuRunner(Vcpu& vcpu, Platform& platform, ExecutionDriver& driver);

  // Called on the vCPU thread whenever the guest reprograms PIT channel 0, so the live timer
  // backend can re-arm.
  void on_pit_schedule_change(std::function<void(const PitTimerSchedule&)> callback);

  // Whether an interrupt the guest cannot take yet is delivered through KVM's interrupt-window
  // exit (the default), or waits for the next exit or input. Recording and replay turn the
  // window off: on hosts whose KVM emulates guest kernel code (kvm_pvm here), the window exit
  // is taken at an emulation-batch boundary, which depends on where the vCPU last entered, so
  // it is not a reproducible position.
  void set_use_interrupt_window(bool use) { use_interrupt_window_ = use; }

  // Forces KVM_RUN to return soon, once the guest has had a fair slice (kick_pacer.h). Safe
  // from any thread; a kick before run() is served at the first entry.
  void kick() { pacer_.kick(); }

  RunResult run();

  // Where a VM stood between two exits, for another VM that takes over its state (a backup
  // brought up by state transfer): the exit count, and whether at that exit the guest could
  // take an interrupt (what KVM reports in kvm_run with each exit, and a freshly loaded vCPU
  // has not reported yet).
  struct ResumePoint {
    uint64_t exit_count = 0;
    bool if_flag = false;
    bool ready_for_interrupt_injection = false;
    bool operator==(const ResumePoint&) const = default;
  };
  ResumePoint resume_point() const;
  // Before run(), on a VM whose state was just loaded from one that stood at `point`: counts
  // on from its exit count, with its interrupt readiness, and counted landmarks from here.
  void resume_at(const ResumePoint& point);

  VcpuState state() const { return state_; }
  // A driver that loaded a vCPU state (a checkpoint) puts the guest at a point where it runs,
  // even if the exit before it was a HLT.
  void mark_running_after_state_load() { state_ = VcpuState::kRunning; }
  const ExitCounters& counters() const { return exits_.counters(); }
  uint64_t exit_count() const { return exits_.exit_count(); }
  // Where the vCPU counts instructions (Vcpu::instructions_retired): how many it had retired
  // at the last deterministic exit, the base of a counted landmark's position.
  uint64_t instructions_at_exit() const { return instructions_at_exit_; }
  Vcpu& vcpu() { return vcpu_; }
  Platform& platform() { return platform_; }
  const Platform& platform() const { return platform_; }
  // An interrupt is pending in the PIC but the guest cannot take it now (IF=0 or an
  // interrupt shadow).
  bool interrupt_blocked() const {
    return platform_.pic().interrupt_pending() &&
           !(run_->ready_for_interrupt_injection != 0 && run_->if_flag != 0);
  }
  // The exit the last KVM_RUN returned with (valid after a deterministic or debug exit).
  const kvm_run& last_exit() const { return *run_; }
  // When the last KVM_RUN was entered and when it returned: what the guest's last stretch
  // cost in wall time, entry and exit included (the recorder's probes time RIP with it).
  std::chrono::steady_clock::time_point last_entry_time() const { return last_entry_time_; }
  std::chrono::steady_clock::time_point last_return_time() const { return last_return_time_; }
  // The registers when KVM_RUN last returned (or at boot, before the first entry), kept for a
  // crash report where the host resets the vCPU on a triple fault and loses the faulting state.
  const std::optional<RegistersSeen>& last_seen_registers() const { return last_seen_; }

 private:
  void deliver_interrupt();
  bool interrupt_deliverable() const;
  std::optional<RunResult> enter_guest();
  void notify_pit_schedule();

  Vcpu& vcpu_;
  kvm_run* run_;
  Platform& platform_;
  ExecutionDriver& driver_;
  ExitHandler exits_;
  VcpuState state_ = VcpuState::kRunning;
  bool last_return_asynchronous_ = false;
  std::chrono::steady_clock::time_point last_entry_time_{};
  std::chrono::steady_clock::time_point last_return_time_{};
  bool use_interrupt_window_ = true;
  KickPacer pacer_;
  bool registers_synced_ = false;
  std::optional<RegistersSeen> last_seen_;
  uint64_t pit_generation_seen_ = ~0ull;
  uint64_t instructions_at_exit_ = 0;
  bool resumed_ = false;
  std::function<void(const PitTimerSchedule&)> pit_schedule_callback_;
};

// Installs the (empty) handler of the signal used to kick vCPU threads out of KVM_RUN.
void install_kick_signal_handler();

}  // namespace ftvm
