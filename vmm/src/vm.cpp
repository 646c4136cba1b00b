#include "vmm/vm.h"

#include <fmt/format.h>

#include "testsvc/abi.h"
#include "vmm/boot.h"
#include "vmm/cpuid_filter.h"
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

Result<void> boot_vcpu(KvmVcpu& vcpu, const std::vector<kvm_cpuid_entry2>& cpuid,
                       const GuestMemory& memory, uint64_t entry) {
  if (auto r = vcpu.set_cpuid(cpuid); !r) {
    return make_error("the guest's CPUID is not accepted by this host's KVM: " + r.error().message);
  }
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
  auto kvm = Kvm::open(config.kvm_device);
  if (!kvm) return kvm.error();
  if (auto r = require_kvm_capabilities(*kvm); !r) return r.error();
  auto vm = kvm->create_vm();
  if (!vm) return vm.error();
  if (auto r = vm->set_tss_address(kTssGpa); !r) return r.error();
  auto memory = GuestMemory::allocate(config.mem_bytes);
  if (!memory) return memory.error();
  if (auto r = load_elf64(*image, config.image, *memory); !r) return r.error();
  const uint32_t slot_flags = config.track_dirty_pages ? KVM_MEM_LOG_DIRTY_PAGES : 0;
  if (auto r = vm->map_memory(0, 0, memory->size(), memory->host_base(), slot_flags); !r) {
    return r.error();
  }
  auto vcpu = vm->create_vcpu(0);
  if (!vcpu) return vcpu.error();
  auto cpuid = guest_cpuid(*kvm, config);
  if (!cpuid) return cpuid.error();
  if (auto r = boot_vcpu(*vcpu, *cpuid, *memory, image->entry); !r) return r.error();
  auto platform = std::make_unique<Platform>(time, console);
  if (auto r = platform->attach_devices(); !r) return r.error();
  return std::unique_ptr<Vm>(new Vm(std::move(*kvm), std::move(*vm), std::move(*memory),
                                    std::move(*vcpu), std::move(platform), image->entry,
                                    std::move(*cpuid)));
}

Result<std::vector<uint64_t>> Vm::dirty_pages() {
  auto bitmap = vm_.get_dirty_log(0, memory_.size());
  if (!bitmap) return bitmap.error();
  return dirty_pages_from_bitmap(*bitmap);
}

}  // namespace ftvm
