// The software CPU: a vCPU that Unicorn (QEMU's TCG as a library) executes, for hosts without a
// usable /dev/kvm. It reports exits in the same kvm_run record KVM fills, so the runner, the
// exit handler and the devices run unchanged on it.
//
// Unicorn executes instructions but does not behave as a whole machine, so this class supplies
// what it lacks (docs/architecture.md, "The software CPU"):
// - External interrupts are delivered here, as the hardware would: IDT gate, stack switch
//   through TSS.RSP0 or an IST, the frame, IF, the STI/MOV SS shadow. Unicorn has no API for
//   raising the CPL, so an interrupt taken at CPL3 edits the privilege level and the CS/SS
//   caches in Unicorn's saved CPU state, whose layout is checked when the vCPU is created.
// - Every instruction is counted by a code hook (a rep iteration counts one), so a stop is
//   exact and kicks are served between two instructions on the vCPU thread: never from
//   another thread, which Unicorn does not stop reproducibly.
// - Port reads complete on the next run(), as in KVM: the IN executes with 0 and the value the
//   exit handler supplied is written into AL/AX/EAX (or memory, for INS) before the guest goes
//   on. Device memory is left unmapped: an access stops *before* its instruction, and the next
//   run() executes that one instruction against a page that serves exactly the data the exit
//   handler supplied (or takes the write it already saw).
//
// Scope: guests with identity-mapped paging (Unicorn 2.0.1 uses the virtual address as the
// physical one), no SYSCALL/SYSENTER, no RDTSC/RDRAND, and no exception taken by the guest
// (its own #UD, #GP, #PF...); its software interrupts (INT n, INT3, INT1) go through its IDT,
// as the hardware takes them. testsvc is such a guest. What the backend cannot run faithfully stops
// the run with an internal-error exit that names the instruction.
#pragma once

#include <array>
#include <csignal>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vmm/guest_memory.h"
#include "vmm/result.h"
#include "vmm/vcpu.h"

struct uc_struct;
struct uc_context;

namespace ftvm {

class EmuVcpu final : public Vcpu {
 public:
  // Maps `memory` (which must outlive the vCPU) as guest RAM at guest-physical 0. The vCPU
  // starts in 64-bit mode at CPL0; set_sregs/set_regs put it where the guest starts.
  static Result<std::unique_ptr<EmuVcpu>> create(const GuestMemory& memory);
  ~EmuVcpu() override;
  EmuVcpu(const EmuVcpu&) = delete;
  EmuVcpu& operator=(const EmuVcpu&) = delete;

  // Unicorn's version, for messages and for `ftvm host-info`.
  static std::string engine_version();

  Accel accel() const override { return Accel::kEmu; }
  kvm_run* run_page() const override { return reinterpret_cast<kvm_run*>(run_page_.get()); }
  size_t run_page_bytes() const override { return kRunPageBytes; }
  int run() override;
  Result<void> refresh_run_page() override;
  std::string failure_detail() const override { return failure_; }
  bool sync_registers_on_exit() override { return false; }

  Result<kvm_regs> get_regs() const override;
  Result<void> set_regs(const kvm_regs& regs) override;
  Result<kvm_sregs> get_sregs() const override;
  Result<void> set_sregs(const kvm_sregs& sregs) override;
  Result<kvm_fpu> get_fpu() const override;
  Result<void> set_fpu(const kvm_fpu& fpu) override;
  // Nothing is ever pending (interrupt() delivers at once); the interrupt shadow is real.
  Result<kvm_vcpu_events> get_events() const override;
  Result<void> set_events(const kvm_vcpu_events& events) override;
  const VcpuStateSupport& state_support() const override { return support_; }
  Result<std::vector<uint8_t>> get_xsave() const override;
  Result<void> set_xsave(std::span<const uint8_t> area) override;
  Result<kvm_xcrs> get_xcrs() const override;
  Result<void> set_xcrs(const kvm_xcrs& xcrs) override;
  Result<kvm_debugregs> get_debugregs() const override;
  Result<void> set_debugregs(const kvm_debugregs& debugregs) override;
  Result<std::vector<kvm_msr_entry>> get_msrs(std::span<const uint32_t> indices) const override;
  Result<void> set_msrs(std::span<const kvm_msr_entry> entries) override;
  Result<void> interrupt(uint8_t vector) override;
  Result<uint64_t> translate(uint64_t gva) const override;
  // Execution breakpoints (DR0-DR3 with R/W 00) and single-step, as KVM_SET_GUEST_DEBUG arms
  // them and as the hardware under KVM reports them: a breakpoint stops before its instruction
  // (also the first one a run() executes, and each rep iteration: nothing sets RF), a step
  // after one instruction or rep iteration. Positions here
  // are counts; these exist so that breakpoint landmarks, KVM's way without a PMU, can be
  // recorded and replayed on any machine.
  Result<void> set_guest_debug(const kvm_guest_debug& debug) override;

  // Logs the guest's writes to RAM per 4 KiB page, as KVM's dirty log does (a write hook, so
  // only when asked: checkpoints need it). Writes the VMM makes (DMA) are not logged, as on
  // KVM; writes this class makes for the guest (an interrupt frame, INS) are.
  Result<void> log_dirty_pages();
  // The pages written since the last call (since log_dirty_pages() for the first), ascending.
  Result<std::vector<uint64_t>> take_dirty_pages();

  std::optional<uint64_t> instructions_retired() const override { return retired_; }
  Result<void> stop_at_instruction(uint64_t retired) override;

  // The code hook and the access hooks (Unicorn calls them with this object).
  void on_instruction(uint64_t address);
  uint32_t on_port_in(uint32_t port, int size);
  void on_port_out(uint32_t port, int size, uint32_t value);
  bool on_unmapped_access(bool is_write, bool is_fetch, uint64_t address, int size, int64_t value);
  void on_exception(uint32_t vector);
  void on_refused_instruction(const char* what);
  void on_ram_write(uint64_t address, int size) {
    mark_dirty(address, static_cast<uint64_t>(size));
  }
  uint64_t on_device_page_read(uint64_t offset, unsigned size);
  void on_device_page_write(uint64_t offset, unsigned size, uint64_t value);

 private:
  static constexpr size_t kRunPageBytes = 8192;
  static constexpr uint32_t kPioDataOffset = 4096;

  enum class Stop {
    kNone,
    kKick,
    kLimit,
    kTarget,
    kDebug,
    kPortIn,
    kPortOut,
    kDeviceMemory,
    kWindow,
    kException,  // the guest raised a software interrupt (exception_)
    kFault,
  };
  // A software interrupt (INT n, INT3, INT1) raised by the guest's own instruction, delivered
  // through its IDT once Unicorn has stopped.
  struct GuestException {
    uint8_t vector = 0;
    uint64_t return_rip = 0;  // the instruction after it
  };
  // A port read the exit handler answers before the next run().
  struct PendingPortIn {
    int size = 0;
    bool string = false;  // INS: the value goes to memory, not to RAX
  };
  // A device-memory access stopped before its instruction ran.
  struct PendingDeviceAccess {
    uint64_t address = 0;
    uint32_t size = 0;
    bool is_write = false;
    uint64_t page = 0;
    uint32_t served = 0;  // bytes the completing instruction has read or written so far
  };

  EmuVcpu(uc_struct* engine, const GuestMemory& memory);
  Result<void> install_hooks();
  Result<void> check_state_layout();
  void stop(Stop reason);
  // Whether a breakpoint or the step ends the run before the instruction at `address`.
  // `past_breakpoint`: RFLAGS.RF covers this instruction.
  bool debug_stop_before(uint64_t address, bool past_breakpoint);
  void fault(std::string what);
  int finish_run(int uc_error);
  Result<void> complete_port_in();
  int complete_device_access();
  void report_port_exit(uint8_t direction, uint32_t port, int size);
  bool expected_device_access(uint64_t offset, unsigned size, bool is_write);
  int execute();
  void fill_interrupt_fields();
  bool interrupt_shadow() const;
  uint64_t rflags() const;
  uint64_t reg(int id) const;
  void set_reg(int id, uint64_t value);
  Result<uint64_t> read_u64(uint64_t gva) const;
  void mark_dirty(uint64_t gpa, uint64_t bytes);
  std::vector<uint64_t> page_table_pages() const;
  void mark_changed_page_tables();
  // The MSRs of vcpu_state.h's list that this Unicorn reads and writes, found at creation.
  void find_state_msrs();
  Result<void> deliver(uint8_t vector, bool software = false);
  // The software interrupt the instruction at current_rip_ raised as `vector`, or nullopt for
  // an exception, which this class does not deliver.
  std::optional<GuestException> classify_exception(uint32_t vector) const;
  Result<void> take_exception();
  // Unicorn's saved CPU state, for what its API does not reach (the CPL, segment caches).
  uint8_t* save_state() const;
  void restore_state();

  uc_struct* engine_;
  const GuestMemory& memory_;
  std::unique_ptr<uint8_t[]> run_page_;
  uc_context* context_ = nullptr;
  VcpuStateSupport support_;
  volatile sig_atomic_t* kick_flag_ = nullptr;
  uint64_t retired_ = 0;
  // While the instruction that stopped at device memory runs: stop after it, and let nothing
  // else (a kick, a landmark) in before it.
  bool completing_ = false;
  uint64_t limit_ = 0;
  std::optional<uint64_t> stop_at_;  // a counted landmark (stop_at_instruction)
  // What set_guest_debug armed.
  struct GuestDebug {
    std::array<std::optional<uint64_t>, 4> breakpoints;
    bool single_step = false;
    bool step_begun = false;  // an instruction began since the step was armed
    bool armed = false;       // a breakpoint or the step: the code hook's one test otherwise
    // RFLAGS.RF as the VMM set it (Unicorn's flags do not keep it): the first instruction of
    // the next run goes past an execution breakpoint at it, as on hardware.
    bool resume_flag = false;
    bool resuming = false;  // this run's first instruction has not begun yet
  };
  GuestDebug debug_;
  // Bit n: page n written since the last take. Empty while writes are not logged.
  std::vector<uint64_t> dirty_bitmap_;
  // Every page-table page seen so far, as it was at the last take (empty: not yet copied).
  std::map<uint64_t, std::vector<uint8_t>> table_copies_;
  uint32_t debug_stop_dr6_ = 0;  // why the last kDebug stop came, as DR6 says it
  uint64_t current_rip_ = 0;
  Stop stop_ = Stop::kNone;
  std::string failure_;
  std::optional<PendingPortIn> port_in_;
  std::optional<GuestException> exception_;
  std::optional<PendingDeviceAccess> device_access_;
};

}  // namespace ftvm
