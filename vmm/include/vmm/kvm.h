// Thin RAII wrappers over the KVM ioctl API: the system fd (/dev/kvm), a VM fd and a vCPU fd
// with its shared kvm_run page. They translate errno into Result errors that say what to do.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "vmm/mapping.h"
#include "vmm/result.h"
#include "vmm/unique_fd.h"

namespace ftvm {

// What the host's KVM offers for vCPU state beyond the basic registers, found once per VM.
struct KvmStateSupport {
  // Bytes of KVM_GET_XSAVE(2) (at least 4096), or 0 without KVM_CAP_XSAVE (a host CPU
  // without XSAVE). KVM_GET/SET_XCRS and _DEBUGREGS need no check: every x86-64 KVM has them.
  uint32_t xsave_bytes = 0;
  // KVM_GET_MSR_INDEX_LIST: the MSRs KVM_GET_MSRS/KVM_SET_MSRS accept, sorted.
  std::vector<uint32_t> msr_indices;
  // KVM_CAP_SYNC_REGS offers the GPRs in the run page (KvmVcpu::sync_registers_on_exit).
  bool sync_regs = false;
};

class KvmVcpu {
 public:
  KvmVcpu(UniqueFd fd, Mapping run_page, std::shared_ptr<const KvmStateSupport> support)
      : fd_(std::move(fd)), run_page_(std::move(run_page)), support_(std::move(support)) {}

  kvm_run* run_page() const { return reinterpret_cast<kvm_run*>(run_page_.data()); }
  size_t run_page_bytes() const { return run_page_.size(); }
  int fd() const { return fd_.get(); }

  // Enters the guest until the next exit. Returns 0, or the errno of KVM_RUN (EINTR when a
  // signal kicked the vCPU out).
  int run();
  // Makes KVM rewrite the run page's interrupt fields (if_flag, ready_for_interrupt_injection)
  // for the current state, without running the guest: needed after the state was loaded
  // rather than reached by running. Uses immediate_exit, so KVM_RUN returns at once.
  Result<void> refresh_run_page();

  // KVM_CAP_SYNC_REGS: from now on KVM copies the GPRs into the run page at every return from
  // KVM_RUN, so a driver that reads them after each of many exits (a breakpoint search)
  // saves an ioctl per exit. False where the host lacks the capability.
  bool sync_registers_on_exit();
  // The GPRs as of the last return from KVM_RUN. Only after sync_registers_on_exit() returned
  // true, and only until something else changes them (KVM_SET_REGS, a state load).
  const kvm_regs& registers_at_exit() const { return run_page()->s.regs.regs; }

  Result<kvm_regs> get_regs() const;
  Result<void> set_regs(const kvm_regs& regs);
  Result<kvm_sregs> get_sregs() const;
  Result<void> set_sregs(const kvm_sregs& sregs);
  Result<kvm_fpu> get_fpu() const;
  Result<void> set_fpu(const kvm_fpu& fpu);
  Result<kvm_vcpu_events> get_events() const;
  Result<void> set_events(const kvm_vcpu_events& events);

  const KvmStateSupport& state_support() const { return *support_; }
  // The XSAVE area, state_support().xsave_bytes long (KVM_GET_XSAVE2 when that is over 4 KiB).
  Result<std::vector<uint8_t>> get_xsave() const;
  // Takes an area of any size: a shorter one is zero-extended (absent components stay in their
  // initial state, as the header's XSTATE_BV says), a longer one is refused unless the excess
  // is zero.
  Result<void> set_xsave(std::span<const uint8_t> area);
  Result<kvm_xcrs> get_xcrs() const;
  Result<void> set_xcrs(const kvm_xcrs& xcrs);
  Result<kvm_debugregs> get_debugregs() const;
  Result<void> set_debugregs(const kvm_debugregs& debugregs);
  // Reads the MSRs named by `indices` (all must be in state_support().msr_indices).
  Result<std::vector<kvm_msr_entry>> get_msrs(std::span<const uint32_t> indices) const;
  // Writes all of `entries`, or says which one KVM refused.
  Result<void> set_msrs(std::span<const kvm_msr_entry> entries);
  Result<void> set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);
  // Injects an external interrupt vector (userspace irqchip only).
  Result<void> interrupt(uint8_t vector);
  // Guest-virtual to guest-physical through the guest's current page tables.
  Result<uint64_t> translate(uint64_t gva) const;
  Result<void> set_guest_debug(const kvm_guest_debug& debug);

 private:
  Result<void> ioctl_checked(unsigned long request, void* arg, const char* what) const;
  UniqueFd fd_;
  Mapping run_page_;
  std::shared_ptr<const KvmStateSupport> support_;  // shared by the VM's vCPUs
};

class KvmVm {
 public:
  KvmVm(UniqueFd fd, int vcpu_mmap_size, std::shared_ptr<const KvmStateSupport> support)
      : fd_(std::move(fd)), vcpu_mmap_size_(vcpu_mmap_size), support_(std::move(support)) {}
  Result<void> map_memory(uint32_t slot, uint64_t gpa, uint64_t bytes, void* host, uint32_t flags);
  Result<KvmVcpu> create_vcpu(unsigned long id);
  // The pages of `slot` written since the previous call (the slot must have been mapped with
  // KVM_MEM_LOG_DIRTY_PAGES). One bit per 4 KiB page.
  Result<std::vector<uint64_t>> get_dirty_log(uint32_t slot, uint64_t slot_bytes);
  // Intel VMX needs three pages of guest-physical space for its real-mode TSS; they must not
  // overlap RAM or MMIO.
  Result<void> set_tss_address(uint64_t gpa);
  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
  int vcpu_mmap_size_;
  std::shared_ptr<const KvmStateSupport> support_;
};

class Kvm {
 public:
  static constexpr const char* kDevicePath = "/dev/kvm";
  static Result<Kvm> open(const std::string& path = kDevicePath);

  int check_extension(long capability) const;
  Result<std::vector<kvm_cpuid_entry2>> supported_cpuid() const;
  // KVM_GET_MSR_INDEX_LIST, sorted.
  Result<std::vector<uint32_t>> msr_index_list() const;
  Result<KvmVm> create_vm() const;

 private:
  explicit Kvm(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace ftvm
