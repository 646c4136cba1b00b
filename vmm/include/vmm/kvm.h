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
#include "vmm/vcpu.h"

namespace ftvm {

class KvmVcpu final : public Vcpu {
 public:
  KvmVcpu(UniqueFd fd, Mapping run_page, std::shared_ptr<const VcpuStateSupport> support)
      : fd_(std::move(fd)), run_page_(std::move(run_page)), support_(std::move(support)) {}

  Accel accel() const override { return Accel::kKvm; }
  kvm_run* run_page() const override { return reinterpret_cast<kvm_run*>(run_page_.data()); }
  size_t run_page_bytes() const override { return run_page_.size(); }
  int fd() const { return fd_.get(); }

  // KVM_RUN; EINTR when a signal kicked the vCPU out.
  int run() override;
  // Uses immediate_exit, so KVM_RUN returns at once with the fields rewritten.
  Result<void> refresh_run_page() override;
  // KVM_CAP_SYNC_REGS: from now on KVM copies the GPRs into the run page at every return from
  // KVM_RUN. False where the host lacks the capability.
  bool sync_registers_on_exit() override;

  Result<kvm_regs> get_regs() const override;
  Result<void> set_regs(const kvm_regs& regs) override;
  Result<kvm_sregs> get_sregs() const override;
  Result<void> set_sregs(const kvm_sregs& sregs) override;
  Result<kvm_fpu> get_fpu() const override;
  Result<void> set_fpu(const kvm_fpu& fpu) override;
  Result<kvm_vcpu_events> get_events() const override;
  Result<void> set_events(const kvm_vcpu_events& events) override;

  const VcpuStateSupport& state_support() const override { return *support_; }
  // KVM_GET_XSAVE2 when the area is over 4 KiB.
  Result<std::vector<uint8_t>> get_xsave() const override;
  Result<void> set_xsave(std::span<const uint8_t> area) override;
  Result<kvm_xcrs> get_xcrs() const override;
  Result<void> set_xcrs(const kvm_xcrs& xcrs) override;
  Result<kvm_debugregs> get_debugregs() const override;
  Result<void> set_debugregs(const kvm_debugregs& debugregs) override;
  Result<std::vector<kvm_msr_entry>> get_msrs(std::span<const uint32_t> indices) const override;
  Result<void> set_msrs(std::span<const kvm_msr_entry> entries) override;
  Result<void> set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);
  // KVM_INTERRUPT (userspace irqchip only).
  Result<void> interrupt(uint8_t vector) override;
  Result<uint64_t> translate(uint64_t gva) const override;
  Result<void> set_guest_debug(const kvm_guest_debug& debug) override;

 private:
  Result<void> ioctl_checked(unsigned long request, void* arg, const char* what) const;
  UniqueFd fd_;
  Mapping run_page_;
  std::shared_ptr<const VcpuStateSupport> support_;  // shared by the VM's vCPUs
};

class KvmVm {
 public:
  KvmVm(UniqueFd fd, int vcpu_mmap_size, std::shared_ptr<const VcpuStateSupport> support)
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
  std::shared_ptr<const VcpuStateSupport> support_;
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
