// One virtual machine: KVM objects, guest RAM, the platform devices and a booted vCPU.
// Creating it validates everything that comes from the user (memory size, guest image) before
// touching /dev/kvm, so a bad image is reported as such even on a host without KVM.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vmm/elf_loader.h"
#include "vmm/guest_memory.h"
#include "vmm/kvm.h"
#include "vmm/platform.h"
#include "vmm/result.h"
#include "vmm/vcpu.h"

namespace ftvm {

struct VmConfig {
  static constexpr uint64_t kDefaultMemBytes = 64ull << 20;
  static constexpr uint64_t kMinMemBytes = 4ull << 20;

  uint64_t mem_bytes = kDefaultMemBytes;
  std::span<const uint8_t> image;  // an ELF64 kernel; must outlive create()
  std::string image_name;          // for messages
  // Which backend executes the guest: KVM, or the software CPU (emu_vcpu.h).
  Accel accel = Accel::kKvm;
  std::string kvm_device = Kvm::kDevicePath;
  // Log guest writes per page, for checkpoints. On KVM its dirty log: a write fault on the
  // first write to each page after every dirty_pages() call. On the software CPU a write hook:
  // a call for every write the guest makes.
  bool track_dirty_pages = false;
  // The CPUID the guest sees under KVM. Empty: this host's supported CPUID, filtered
  // (cpuid_filter.h). A replay passes the recording's, so the guest sees the same CPU. The
  // software CPU answers CPUID from its own model, which is the same on every host.
  std::vector<kvm_cpuid_entry2> cpuid;
};

Result<void> validate_memory_size(uint64_t bytes);

class EmuVcpu;

class Vm {
 public:
  static Result<std::unique_ptr<Vm>> create(const VmConfig& config, TimeSource& time,
                                            ConsoleSink& console);

  Platform& platform() { return *platform_; }
  Vcpu& vcpu() { return *vcpu_; }
  Accel accel() const { return vcpu_->accel(); }
  const GuestMemory& memory() const { return memory_; }
  uint64_t entry_point() const { return entry_; }
  const std::vector<kvm_cpuid_entry2>& cpuid() const { return cpuid_; }
  // Who reads the dirty log. Each reader sees every page written since its own previous read:
  // a recorder's checkpoints and a state transfer may run at once, and the backend's log is
  // cleared by whichever reads it (vCPU thread only).
  enum class DirtyReader { kCheckpoints = 0, kTransfer = 1 };
  // Guest-physical addresses of the pages written since `reader`'s previous call, ascending
  // (needs VmConfig::track_dirty_pages). A reader's first call starts its log. A transfer
  // also gets the pages the devices wrote (GuestMemory::take_host_written_pages).
  Result<std::vector<uint64_t>> dirty_pages(DirtyReader reader = DirtyReader::kCheckpoints);
  // `reader` reads no more (a transfer ended): pages are no longer kept for it.
  void stop_reading_dirty_pages(DirtyReader reader);

 private:
  Vm(GuestMemory memory, uint64_t entry) : memory_(std::move(memory)), entry_(entry) {}
  static Result<void> create_kvm_vcpu(Vm& vm, const VmConfig& config);
  static Result<void> create_emu_vcpu(Vm& vm, const VmConfig& config);

  // Declared in creation order: the vCPU goes before the memory it runs in, and KVM's vCPU fd
  // before its VM fd.
  std::optional<Kvm> kvm_;
  std::optional<KvmVm> vm_;
  GuestMemory memory_;
  std::unique_ptr<Vcpu> vcpu_;
  EmuVcpu* emu_vcpu_ = nullptr;  // vcpu_, on the software CPU
  std::unique_ptr<Platform> platform_;
  uint64_t entry_;
  std::vector<kvm_cpuid_entry2> cpuid_;
  // Per reader: whether it reads, and the pages read from the backend for it by the other.
  // Checkpoints read from the start (their first read is every page written since boot); a
  // transfer from its first read until it stops.
  struct DirtyLogOf {
    bool reading = false;
    std::vector<uint64_t> kept;
  };
  std::array<DirtyLogOf, 2> dirty_readers_{DirtyLogOf{true, {}}, DirtyLogOf{false, {}}};
};

}  // namespace ftvm
