#include "vmm/kvm.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace ftvm {
namespace {

// <linux/kvm.h> declares the trailing arrays of kvm_cpuid2 and friends with
// __DECLARE_FLEX_ARRAY, which in C++ adds an empty struct member of size 1 and changes the
// struct's size, and with it the size encoded in the ioctl number. The kernel matches ioctl
// numbers exactly, so these are spelled with the C layout: an 8-byte header.
constexpr unsigned long kFlexHeaderBytes = 8;
constexpr unsigned long kGetSupportedCpuid =
    _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x05, kFlexHeaderBytes);
constexpr unsigned long kSetCpuid2 = _IOC(_IOC_WRITE, KVMIO, 0x90, kFlexHeaderBytes);
// kvm_msrs: nmsrs, pad, then the entries.
constexpr unsigned long kGetMsrs = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x88, kFlexHeaderBytes);
constexpr unsigned long kSetMsrs = _IOC(_IOC_WRITE, KVMIO, 0x89, kFlexHeaderBytes);
// kvm_msr_list: nmsrs, then the indices (a 4-byte header).
constexpr unsigned long kMsrListHeaderBytes = 4;
constexpr unsigned long kGetMsrIndexList =
    _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x02, kMsrListHeaderBytes);
// kvm_xsave: 4 KiB of region, then (KVM_GET_XSAVE2 only) the extra bytes.
constexpr uint32_t kXsaveBytes = 4096;
constexpr unsigned long kGetXsave = _IOC(_IOC_READ, KVMIO, 0xa4, kXsaveBytes);
constexpr unsigned long kSetXsave = _IOC(_IOC_WRITE, KVMIO, 0xa5, kXsaveBytes);
constexpr unsigned long kGetXsave2 = _IOC(_IOC_READ, KVMIO, 0xcf, kXsaveBytes);

Error errno_error(const char* what) {
  return make_error(fmt::format("{} failed: {}", what, std::strerror(errno)));
}

std::string open_advice(int error, const std::string& path) {
  switch (error) {
    case ENOENT:
      return fmt::format(
          "{} does not exist: KVM is not available on this host. Load the kvm_intel or kvm_amd "
          "module, enable virtualization in the firmware, or enable nested virtualization on the "
          "hypervisor this machine runs on.",
          path);
    case EACCES:
    case EPERM:
      return fmt::format(
          "permission denied opening {}: run as root or add your user to the 'kvm' group "
          "(sudo usermod -aG kvm $USER, then log in again).",
          path);
    default:
      return fmt::format("cannot open {}: {}", path, std::strerror(error));
  }
}

}  // namespace

int KvmVcpu::run() {
  return ::ioctl(fd_.get(), KVM_RUN, 0) == 0 ? 0 : errno;
}

Result<void> KvmVcpu::refresh_run_page() {
  kvm_run* run = run_page();
  const uint8_t saved = run->immediate_exit;
  run->immediate_exit = 1;
  const int error = this->run();
  run->immediate_exit = saved;
  if (error != EINTR && error != 0) {
    return make_error(
        fmt::format("KVM_RUN to refresh the run page failed: {}", std::strerror(error)));
  }
  return {};
}

Result<void> KvmVcpu::ioctl_checked(unsigned long request, void* arg, const char* what) const {
  if (::ioctl(fd_.get(), request, arg) < 0) return errno_error(what);
  return {};
}

bool KvmVcpu::sync_registers_on_exit() {
  if (!support_->sync_regs) return false;
  // kvm_dirty_regs stays 0: KVM never loads registers back from the run page, so a stale
  // copy there cannot overwrite the guest's.
  run_page()->kvm_valid_regs |= KVM_SYNC_X86_REGS;
  return true;
}

Result<kvm_regs> KvmVcpu::get_regs() const {
  kvm_regs regs{};
  if (auto r = ioctl_checked(KVM_GET_REGS, &regs, "KVM_GET_REGS"); !r) return r.error();
  return regs;
}

Result<void> KvmVcpu::set_regs(const kvm_regs& regs) {
  auto copy = regs;
  return ioctl_checked(KVM_SET_REGS, &copy, "KVM_SET_REGS");
}

Result<kvm_sregs> KvmVcpu::get_sregs() const {
  kvm_sregs sregs{};
  if (auto r = ioctl_checked(KVM_GET_SREGS, &sregs, "KVM_GET_SREGS"); !r) return r.error();
  return sregs;
}

Result<void> KvmVcpu::set_sregs(const kvm_sregs& sregs) {
  auto copy = sregs;
  return ioctl_checked(KVM_SET_SREGS, &copy, "KVM_SET_SREGS");
}

Result<kvm_fpu> KvmVcpu::get_fpu() const {
  kvm_fpu fpu{};
  if (auto r = ioctl_checked(KVM_GET_FPU, &fpu, "KVM_GET_FPU"); !r) return r.error();
  return fpu;
}

Result<void> KvmVcpu::set_fpu(const kvm_fpu& fpu) {
  auto copy = fpu;
  return ioctl_checked(KVM_SET_FPU, &copy, "KVM_SET_FPU");
}

Result<void> KvmVcpu::set_events(const kvm_vcpu_events& events) {
  auto copy = events;
  return ioctl_checked(KVM_SET_VCPU_EVENTS, &copy, "KVM_SET_VCPU_EVENTS");
}

Result<kvm_vcpu_events> KvmVcpu::get_events() const {
  kvm_vcpu_events events{};
  if (auto r = ioctl_checked(KVM_GET_VCPU_EVENTS, &events, "KVM_GET_VCPU_EVENTS"); !r) {
    return r.error();
  }
  return events;
}

Result<std::vector<uint8_t>> KvmVcpu::get_xsave() const {
  const uint32_t bytes = support_->xsave_bytes;
  if (bytes == 0) return make_error("KVM_GET_XSAVE: this host's KVM has no KVM_CAP_XSAVE");
  std::vector<uint8_t> area(bytes);
  // KVM_GET_XSAVE refuses (EINVAL) when the vCPU's area is over 4 KiB; KVM_GET_XSAVE2 writes
  // the whole of it, as many bytes as KVM_CAP_XSAVE2 reported.
  const bool large = bytes > kXsaveBytes;
  if (auto r = ioctl_checked(large ? kGetXsave2 : kGetXsave, area.data(),
                             large ? "KVM_GET_XSAVE2" : "KVM_GET_XSAVE");
      !r) {
    return r.error();
  }
  return area;
}

Result<void> KvmVcpu::set_xsave(std::span<const uint8_t> area) {
  const uint32_t bytes = support_->xsave_bytes;
  if (bytes == 0) return make_error("KVM_SET_XSAVE: this host's KVM has no KVM_CAP_XSAVE");
  if (area.size() > bytes &&
      std::any_of(area.begin() + bytes, area.end(), [](uint8_t b) { return b != 0; })) {
    return make_error(fmt::format(
        "the XSAVE area to load has {} bytes with state beyond this host's {}: it holds "
        "components this host's KVM cannot load",
        area.size(), bytes));
  }
  // KVM reads the vCPU's full area size whatever the ioctl number says, so the buffer must
  // have at least that many bytes.
  std::vector<uint8_t> buffer(bytes, 0);
  std::memcpy(buffer.data(), area.data(), std::min<size_t>(area.size(), bytes));
  return ioctl_checked(kSetXsave, buffer.data(), "KVM_SET_XSAVE");
}

Result<kvm_xcrs> KvmVcpu::get_xcrs() const {
  kvm_xcrs xcrs{};
  if (auto r = ioctl_checked(KVM_GET_XCRS, &xcrs, "KVM_GET_XCRS"); !r) return r.error();
  return xcrs;
}

Result<void> KvmVcpu::set_xcrs(const kvm_xcrs& xcrs) {
  auto copy = xcrs;
  return ioctl_checked(KVM_SET_XCRS, &copy, "KVM_SET_XCRS");
}

Result<kvm_debugregs> KvmVcpu::get_debugregs() const {
  kvm_debugregs debugregs{};
  if (auto r = ioctl_checked(KVM_GET_DEBUGREGS, &debugregs, "KVM_GET_DEBUGREGS"); !r) {
    return r.error();
  }
  return debugregs;
}

Result<void> KvmVcpu::set_debugregs(const kvm_debugregs& debugregs) {
  auto copy = debugregs;
  return ioctl_checked(KVM_SET_DEBUGREGS, &copy, "KVM_SET_DEBUGREGS");
}

namespace {

// A kvm_msrs buffer: the 8-byte header, then `count` entries.
std::vector<uint8_t> msrs_buffer(std::span<const kvm_msr_entry> entries) {
  std::vector<uint8_t> buffer(kFlexHeaderBytes + entries.size() * sizeof(kvm_msr_entry), 0);
  const uint32_t count = static_cast<uint32_t>(entries.size());
  std::memcpy(buffer.data(), &count, sizeof(count));
  if (!entries.empty()) {
    std::memcpy(buffer.data() + kFlexHeaderBytes, entries.data(),
                entries.size() * sizeof(kvm_msr_entry));
  }
  return buffer;
}

}  // namespace

Result<std::vector<kvm_msr_entry>> KvmVcpu::get_msrs(std::span<const uint32_t> indices) const {
  std::vector<kvm_msr_entry> entries(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) entries[i] = {indices[i], 0, 0};
  auto buffer = msrs_buffer(entries);
  // KVM_GET_MSRS returns how many entries it read; it stops at the first it cannot read.
  const int read = ::ioctl(fd_.get(), kGetMsrs, buffer.data());
  if (read < 0) return errno_error("KVM_GET_MSRS");
  if (static_cast<size_t>(read) != entries.size()) {
    return make_error(fmt::format("KVM_GET_MSRS cannot read MSR {:#x}", indices[read]));
  }
  std::memcpy(entries.data(), buffer.data() + kFlexHeaderBytes,
              entries.size() * sizeof(kvm_msr_entry));
  return entries;
}

Result<void> KvmVcpu::set_msrs(std::span<const kvm_msr_entry> entries) {
  auto buffer = msrs_buffer(entries);
  const int written = ::ioctl(fd_.get(), kSetMsrs, buffer.data());
  if (written < 0) return errno_error("KVM_SET_MSRS");
  if (static_cast<size_t>(written) != entries.size()) {
    return make_error(fmt::format("KVM_SET_MSRS refused MSR {:#x} = {:#x}", entries[written].index,
                                  entries[written].data));
  }
  return {};
}

Result<void> KvmVcpu::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
  const size_t bytes = kFlexHeaderBytes + entries.size() * sizeof(kvm_cpuid_entry2);
  auto storage = std::make_unique<uint8_t[]>(bytes);
  std::memset(storage.get(), 0, bytes);
  const uint32_t count = static_cast<uint32_t>(entries.size());
  std::memcpy(storage.get(), &count, sizeof(count));
  std::memcpy(storage.get() + kFlexHeaderBytes, entries.data(),
              entries.size() * sizeof(kvm_cpuid_entry2));
  return ioctl_checked(kSetCpuid2, storage.get(), "KVM_SET_CPUID2");
}

Result<void> KvmVcpu::interrupt(uint8_t vector) {
  kvm_interrupt irq{};
  irq.irq = vector;
  return ioctl_checked(KVM_INTERRUPT, &irq, "KVM_INTERRUPT");
}

Result<uint64_t> KvmVcpu::translate(uint64_t gva) const {
  kvm_translation translation{};
  translation.linear_address = gva;
  if (auto r = ioctl_checked(KVM_TRANSLATE, &translation, "KVM_TRANSLATE"); !r) return r.error();
  if (!translation.valid) {
    return make_error(fmt::format("guest-virtual address {:#x} is not mapped", gva));
  }
  return static_cast<uint64_t>(translation.physical_address);
}

Result<void> KvmVcpu::set_guest_debug(const kvm_guest_debug& debug) {
  auto copy = debug;
  return ioctl_checked(KVM_SET_GUEST_DEBUG, &copy, "KVM_SET_GUEST_DEBUG");
}

Result<void> KvmVm::map_memory(uint32_t slot, uint64_t gpa, uint64_t bytes, void* host,
                               uint32_t flags) {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.flags = flags;
  region.guest_phys_addr = gpa;
  region.memory_size = bytes;
  region.userspace_addr = reinterpret_cast<uint64_t>(host);
  if (::ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region) < 0) {
    return errno_error("KVM_SET_USER_MEMORY_REGION");
  }
  return {};
}

Result<KvmVcpu> KvmVm::create_vcpu(unsigned long id) {
  UniqueFd fd(::ioctl(fd_.get(), KVM_CREATE_VCPU, id));
  if (!fd.valid()) return errno_error("KVM_CREATE_VCPU");
  void* run = ::mmap(nullptr, static_cast<size_t>(vcpu_mmap_size_), PROT_READ | PROT_WRITE,
                     MAP_SHARED, fd.get(), 0);
  if (run == MAP_FAILED) return errno_error("mmap of the vCPU run page");
  return KvmVcpu(std::move(fd), Mapping(run, static_cast<size_t>(vcpu_mmap_size_)), support_);
}

Result<std::vector<uint64_t>> KvmVm::get_dirty_log(uint32_t slot, uint64_t slot_bytes) {
  constexpr uint64_t kPagesPerWord = 64;
  const uint64_t pages = (slot_bytes + 4095) / 4096;
  std::vector<uint64_t> bitmap((pages + kPagesPerWord - 1) / kPagesPerWord);
  kvm_dirty_log log{};
  log.slot = slot;
  log.dirty_bitmap = bitmap.data();
  if (::ioctl(fd_.get(), KVM_GET_DIRTY_LOG, &log) < 0) return errno_error("KVM_GET_DIRTY_LOG");
  return bitmap;
}

Result<void> KvmVm::set_tss_address(uint64_t gpa) {
  if (::ioctl(fd_.get(), KVM_SET_TSS_ADDR, gpa) < 0) return errno_error("KVM_SET_TSS_ADDR");
  return {};
}

Result<Kvm> Kvm::open(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return make_error(open_advice(errno, path));
  int version = ::ioctl(fd.get(), KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION) {
    return make_error(
        fmt::format("{} speaks KVM API version {}, ftvm needs {}", path, version, KVM_API_VERSION));
  }
  return Kvm(std::move(fd));
}

int Kvm::check_extension(long capability) const {
  int result = ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, capability);
  return result < 0 ? 0 : result;
}

Result<std::vector<kvm_cpuid_entry2>> Kvm::supported_cpuid() const {
  constexpr uint32_t kMaxEntries = 256;
  const size_t bytes = kFlexHeaderBytes + kMaxEntries * sizeof(kvm_cpuid_entry2);
  auto storage = std::make_unique<uint8_t[]>(bytes);
  std::memset(storage.get(), 0, bytes);
  std::memcpy(storage.get(), &kMaxEntries, sizeof(kMaxEntries));
  if (::ioctl(fd_.get(), kGetSupportedCpuid, storage.get()) < 0) {
    return errno_error("KVM_GET_SUPPORTED_CPUID");
  }
  uint32_t count = 0;
  std::memcpy(&count, storage.get(), sizeof(count));
  std::vector<kvm_cpuid_entry2> entries(std::min(count, kMaxEntries));
  std::memcpy(entries.data(), storage.get() + kFlexHeaderBytes,
              entries.size() * sizeof(kvm_cpuid_entry2));
  return entries;
}

Result<std::vector<uint32_t>> Kvm::msr_index_list() const {
  // Asked with room for none, KVM says how many there are (E2BIG). The list is fixed when the
  // module loads, so the second call finds the same count.
  uint32_t count = 0;
  if (::ioctl(fd_.get(), kGetMsrIndexList, &count) == 0) return std::vector<uint32_t>{};
  if (errno != E2BIG) return errno_error("KVM_GET_MSR_INDEX_LIST");
  std::vector<uint32_t> buffer(1 + count);
  buffer[0] = count;
  if (::ioctl(fd_.get(), kGetMsrIndexList, buffer.data()) < 0) {
    return errno_error("KVM_GET_MSR_INDEX_LIST");
  }
  std::vector<uint32_t> indices(buffer.begin() + 1,
                                buffer.begin() + 1 + std::min(buffer[0], count));
  std::sort(indices.begin(), indices.end());
  return indices;
}

Result<KvmVm> Kvm::create_vm() const {
  int mmap_size = ::ioctl(fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (mmap_size <= 0) return errno_error("KVM_GET_VCPU_MMAP_SIZE");
  UniqueFd vm(::ioctl(fd_.get(), KVM_CREATE_VM, 0));
  if (!vm.valid()) return errno_error("KVM_CREATE_VM");

  auto support = std::make_shared<VcpuStateSupport>();
  if (check_extension(KVM_CAP_XSAVE) > 0) {
    // Asked on the VM fd, KVM_CAP_XSAVE2 gives the size of this VM's vCPUs' XSAVE areas: over
    // 4 KiB only when this process enabled a dynamic component such as AMX tiles.
    const int xsave2 = ::ioctl(vm.get(), KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
    support->xsave_bytes = std::max<uint32_t>(kXsaveBytes, xsave2 > 0 ? uint32_t(xsave2) : 0);
  }
  auto msrs = msr_index_list();
  if (!msrs) return msrs.error();
  support->msr_indices = std::move(*msrs);
  const int sync = ::ioctl(vm.get(), KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
  support->sync_regs = sync > 0 && (sync & KVM_SYNC_X86_REGS) != 0;
  return KvmVm(std::move(vm), mmap_size, std::move(support));
}

}  // namespace ftvm
