#include "vmm/vm.h"

#include <fmt/format.h>

#include "testsvc/abi.h"
#include "vmm/boot.h"
#include "vmm/cpuid_filter.h"
#include "vmm/emu_vcpu.h"
#include "vmm/host_info.h"
#include "vmm/vcpu_state.h"

namespace ftvm {
namespace {

namespace abi = testsvc::abi;

// Above the MMIO window and below 4 GiB, where nothing else lives.
constexpr uint64_t kTssGpa = 0xfffbd000;
constexpr uint64_t kPage = 4096;

Result<std::vector<kvm_cpuid_entry2>> guest_cpuid(const Kvm& kvm, const VmConfig& config) {
  if (!config.cpuid.empty()) return config.cpuid;
  auto cpuid = kvm.supported_cpuid();
  if (!cpuid) return cpuid.error();
  return filter_cpuid(std::move(*cpuid));
}

Result<void> boot_vcpu(Vcpu& vcpu, const GuestMemory& memory, uint64_t entry) {
  auto reset_sregs = vcpu.get_sregs();
  if (!reset_sregs) return reset_sregs.error();
  auto boot = prepare_long_mode_boot(memory, entry, *reset_sregs);
  if (!boot) return boot.error();
  if (auto r = vcpu.set_sregs(boot->sregs); !r) return r;
  return vcpu.set_regs(boot->regs);
}

}  // namespace

Result<void> validate_memory_size(uint64_t bytes) {
  if (bytes < VmConfig::kMinMemBytes) {
    return make_error(fmt::format("--mem {} MiB is too small: the guest needs at least {} MiB",
                                  bytes >> 20, VmConfig::kMinMemBytes >> 20));
  }
  if (bytes > abi::kMaxRamBytes) {
    return make_error(fmt::format(
        "--mem {} MiB is too large: guest RAM may not exceed {} MiB (it would overlap the MMIO "
        "window at {:#x})",
        bytes >> 20, abi::kMaxRamBytes >> 20, abi::kMmioBase));
  }
  if (bytes % kPage != 0) return make_error("guest memory size must be a multiple of 4 KiB");
  return {};
}

Result<std::unique_ptr<Vm>> Vm::create(const VmConfig& config, TimeSource& time,
                                       ConsoleSink& console) {
  if (auto r = validate_memory_size(config.mem_bytes); !r) return r.error();
  auto image = parse_elf64(config.image, {abi::kGuestImageMinGpa, config.mem_bytes});
  if (!image) {
    return make_error(
        fmt::format("bad guest image {}: {}", config.image_name, image.error().message));
  }
  auto memory = GuestMemory::allocate(config.mem_bytes);
  if (!memory) return memory.error();
  if (auto r = load_elf64(*image, config.image, *memory); !r) return r.error();
  std::unique_ptr<Vm> vm(new Vm(std::move(*memory), image->entry));
  auto created =
      config.accel == Accel::kKvm ? create_kvm_vcpu(*vm, config) : create_emu_vcpu(*vm, config);
  if (!created) return created.error();
  if (config.track_dirty_pages) vm->memory_.log_host_writes();
  if (auto r = boot_vcpu(*vm->vcpu_, vm->memory_, vm->entry_); !r) return r.error();
  vm->platform_ = std::make_unique<Platform>(time, console);
  if (auto r = vm->platform_->attach_devices(); !r) return r.error();
  return vm;
}

Result<void> Vm::create_kvm_vcpu(Vm& vm, const VmConfig& config) {
  auto kvm = Kvm::open(config.kvm_device);
  if (!kvm) return kvm.error();
  if (auto r = require_kvm_capabilities(*kvm); !r) return r.error();
  auto kvm_vm = kvm->create_vm();
  if (!kvm_vm) return kvm_vm.error();
  if (auto r = kvm_vm->set_tss_address(kTssGpa); !r) return r.error();
  const uint32_t slot_flags = config.track_dirty_pages ? KVM_MEM_LOG_DIRTY_PAGES : 0;
  if (auto r = kvm_vm->map_memory(0, 0, vm.memory_.size(), vm.memory_.host_base(), slot_flags);
      !r) {
    return r.error();
  }
  auto vcpu = kvm_vm->create_vcpu(0);
  if (!vcpu) return vcpu.error();
  auto cpuid = guest_cpuid(*kvm, config);
  if (!cpuid) return cpuid.error();
  if (auto r = vcpu->set_cpuid(*cpuid); !r) {
    return make_error("the guest's CPUID is not accepted by this host's KVM: " + r.error().message);
  }
  vm.kvm_.emplace(std::move(*kvm));
  vm.vm_.emplace(std::move(*kvm_vm));
  vm.vcpu_ = std::make_unique<KvmVcpu>(std::move(*vcpu));
  vm.cpuid_ = std::move(*cpuid);
  return {};
}

Result<void> Vm::create_emu_vcpu(Vm& vm, const VmConfig& config) {
  auto vcpu = EmuVcpu::create(vm.memory_);
  if (!vcpu) return vcpu.error();
  if (config.track_dirty_pages) {
    if (auto r = (*vcpu)->log_dirty_pages(); !r) return r.error();
  }
  vm.emu_vcpu_ = vcpu->get();
  vm.vcpu_ = std::move(*vcpu);
  return {};
}

Result<std::vector<uint64_t>> Vm::dirty_pages(DirtyReader reader) {
  Result<std::vector<uint64_t>> fetched = std::vector<uint64_t>{};
  if (emu_vcpu_ != nullptr) {
    fetched = emu_vcpu_->take_dirty_pages();
  } else {
    auto bitmap = vm_->get_dirty_log(0, memory_.size());
    if (!bitmap) return bitmap.error();
    fetched = dirty_pages_from_bitmap(*bitmap);
  }
  if (!fetched) return fetched.error();
  // The devices' own writes go to a transfer only: a replay makes them again at the same
  // exits, so a checkpoint need not carry them.
  DirtyLogOf& transfer = dirty_readers_[static_cast<size_t>(DirtyReader::kTransfer)];
  const std::vector<uint64_t> host_written = memory_.take_host_written_pages();
  if (transfer.reading) transfer.kept = union_of_pages(transfer.kept, host_written);
  for (size_t i = 0; i < dirty_readers_.size(); ++i) {
    DirtyLogOf& other = dirty_readers_[i];
    if (i != static_cast<size_t>(reader) && other.reading)
      other.kept = union_of_pages(other.kept, *fetched);
  }
  DirtyLogOf& mine = dirty_readers_[static_cast<size_t>(reader)];
  std::vector<uint64_t> pages =
      mine.reading ? union_of_pages(mine.kept, *fetched) : std::move(*fetched);
  mine.reading = true;
  mine.kept.clear();
  return pages;
}

void Vm::stop_reading_dirty_pages(DirtyReader reader) {
  DirtyLogOf& log = dirty_readers_[static_cast<size_t>(reader)];
  log.reading = false;
  log.kept.clear();
  log.kept.shrink_to_fit();
}

}  // namespace ftvm
