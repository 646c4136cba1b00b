#include "vmm/host_info.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <filesystem>
#include <iterator>
#include <sstream>

#include "vmm/emu_vcpu.h"
#include "vmm/host_probe_cache.h"
#include "vmm/kvm.h"
#include "vmm/text_file.h"

namespace ftvm {
namespace {

struct CapabilityQuery {
  const char* name;
  long id;
  bool required;
};

// The capabilities ftvm asks for (vm.cpp refuses to start without the required ones) and the
// optional ones it uses where present.
constexpr CapabilityQuery kCapabilities[] = {
    {"USER_MEMORY", KVM_CAP_USER_MEMORY, true},
    {"IMMEDIATE_EXIT", KVM_CAP_IMMEDIATE_EXIT, true},
    {"SET_TSS_ADDR", KVM_CAP_SET_TSS_ADDR, true},
    {"EXT_CPUID", KVM_CAP_EXT_CPUID, true},
    {"SYNC_REGS", KVM_CAP_SYNC_REGS, false},
    {"XSAVE", KVM_CAP_XSAVE, false},
    {"XCRS", KVM_CAP_XCRS, false},
    {"DEBUGREGS", KVM_CAP_DEBUGREGS, false},
    {"SET_GUEST_DEBUG", KVM_CAP_SET_GUEST_DEBUG, false},
    {"NR_MEMSLOTS", KVM_CAP_NR_MEMSLOTS, false},
};

constexpr const char* kKvmModules[] = {"kvm_intel", "kvm_amd", "kvm_pvm"};

}  // namespace

Result<void> require_kvm_capabilities(const Kvm& kvm) {
  for (const auto& query : kCapabilities) {
    if (query.required && kvm.check_extension(query.id) <= 0) {
      return make_error(fmt::format(
          "this host's KVM lacks KVM_CAP_{}, which ftvm needs (kernel too old?)", query.name));
    }
  }
  return {};
}

std::vector<std::string> loaded_kvm_modules(const std::string& sys_module) {
  std::vector<std::string> found;
  std::error_code error;
  for (const char* module : kKvmModules) {
    if (std::filesystem::is_directory(std::filesystem::path(sys_module) / module, error)) {
      found.emplace_back(module);
    }
  }
  return found;
}

std::string cpu_model_name(const std::string& cpuinfo_text) {
  std::istringstream in(cpuinfo_text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const auto start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "";
}

namespace {

// Builds a software vCPU on a small memory: that checks the engine opens and lays out its state
// as the backend expects.
void probe_software_cpu(HostInfo& info) {
  info.emu_engine = EmuVcpu::engine_version();
  auto memory = GuestMemory::allocate(1 << 20);
  if (!memory) {
    info.emu_problem = memory.error().message;
    return;
  }
  if (auto vcpu = EmuVcpu::create(*memory); !vcpu) info.emu_problem = vcpu.error().message;
}

}  // namespace

HostInfo probe_host(const HostPaths& paths) {
  HostInfo info;
  probe_software_cpu(info);
  info.kvm_device = paths.kvm_device;
  info.kvm_modules = loaded_kvm_modules(paths.sys_module);
  info.cpu_model = cpu_model_name(read_text_file(paths.cpuinfo));
  auto kvm = Kvm::open(paths.kvm_device);
  if (!kvm) {
    info.kvm_problem = kvm.error().message;
    info.backend = "emu";
    return info;
  }
  info.kvm_api_version = KVM_API_VERSION;
  for (const auto& query : kCapabilities) {
    info.capabilities.push_back({query.name, kvm->check_extension(query.id), query.required});
  }
  if (auto required = require_kvm_capabilities(*kvm); !required) {
    info.kvm_problem = required.error().message;
    info.backend = "emu";
    return info;
  }
  // A device that opens may still refuse a VM (a container without the right, a module that
  // is loading); the only sure test is to make one.
  auto vm = kvm->create_vm();
  if (!vm) {
    info.kvm_problem = "KVM opens but cannot create a VM: " + vm.error().message;
    info.backend = "emu";
    return info;
  }
  info.kvm_usable = true;
  info.backend = "kvm";
  auto facts = cached_guest_debug_facts(paths.kvm_device, paths.reprobe);
  if (facts) {
    info.guest_debug = facts->facts;
    info.probe_cached = facts->from_cache;
    info.probe_cache_path = facts->path;
  } else {
    info.probe_problem = facts.error().message;
  }
  return info;
}

}  // namespace ftvm
