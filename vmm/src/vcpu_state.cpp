#include "vmm/vcpu_state.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <iterator>

namespace ftvm {
namespace {

// Ascending, as VcpuRegisters::msrs is. See vcpu_state.h for why these and not IA32_TSC.
constexpr uint32_t kStateMsrs[] = {
    0x174,       // IA32_SYSENTER_CS
    0x175,       // IA32_SYSENTER_ESP
    0x176,       // IA32_SYSENTER_EIP
    0x1a0,       // IA32_MISC_ENABLE
    0x277,       // IA32_PAT
    0xc0000081,  // STAR
    0xc0000082,  // LSTAR
    0xc0000083,  // CSTAR
    0xc0000084,  // SFMASK
    0xc0000102,  // KERNEL_GS_BASE
    0xc0000103,  // TSC_AUX
};

}  // namespace

std::span<const uint32_t> state_msr_indices() {
  return kStateMsrs;
}

namespace {

Result<std::vector<MsrValue>> capture_msrs(const Vcpu& vcpu) {
  const auto& listed = vcpu.state_support().msr_indices;
  std::vector<uint32_t> indices;
  for (uint32_t index : kStateMsrs) {
    if (std::binary_search(listed.begin(), listed.end(), index)) indices.push_back(index);
  }
  auto entries = vcpu.get_msrs(indices);
  if (!entries) return entries.error();
  std::vector<MsrValue> msrs;
  msrs.reserve(entries->size());
  for (const auto& e : *entries) msrs.push_back({e.index, e.data});
  return msrs;
}

Result<void> load_msrs(Vcpu& vcpu, const std::vector<MsrValue>& msrs) {
  std::vector<kvm_msr_entry> entries;
  entries.reserve(msrs.size());
  for (const auto& m : msrs) entries.push_back({m.index, 0, m.value});
  return vcpu.set_msrs(entries);
}

}  // namespace

Result<VcpuRegisters> capture_registers(const Vcpu& vcpu) {
  VcpuRegisters out{};
  auto regs = vcpu.get_regs();
  if (!regs) return regs.error();
  auto sregs = vcpu.get_sregs();
  if (!sregs) return sregs.error();
  if (vcpu.state_support().xsave_bytes != 0) {
    auto xsave = vcpu.get_xsave();
    if (!xsave) return xsave.error();
    out.xsave = std::move(*xsave);
  } else {
    auto fpu = vcpu.get_fpu();
    if (!fpu) return fpu.error();
    out.fpu = *fpu;
  }
  auto xcrs = vcpu.get_xcrs();
  if (!xcrs) return xcrs.error();
  auto debugregs = vcpu.get_debugregs();
  if (!debugregs) return debugregs.error();
  auto msrs = capture_msrs(vcpu);
  if (!msrs) return msrs.error();
  auto events = vcpu.get_events();
  if (!events) return events.error();
  out.regs = *regs;
  out.sregs = *sregs;
  out.xcrs = *xcrs;
  out.debugregs = *debugregs;
  out.msrs = std::move(*msrs);
  out.events = *events;
  return out;
}

Result<void> load_registers(Vcpu& vcpu, const VcpuRegisters& registers) {
  // A vCPU stopped at a PIO or MMIO exit has not finished that instruction: KVM completes it
  // (in its emulator, with the registers it holds) on the next KVM_RUN. Let it do so now, or it
  // would complete it on top of the registers loaded below and execute the I/O twice.
  if (auto r = vcpu.refresh_run_page(); !r) return r;
  if (auto r = vcpu.set_sregs(registers.sregs); !r) return r;
  if (auto r = vcpu.set_regs(registers.regs); !r) return r;
  // KVM checks XCR0 and the XSAVE area each against the guest's CPUID, not against each other,
  // so their order does not matter. The XSAVE area, where there is one, is the FPU state.
  if (registers.xcrs.nr_xcrs != 0) {
    if (auto r = vcpu.set_xcrs(registers.xcrs); !r) return r;
  }
  if (!registers.xsave.empty()) {
    if (auto r = vcpu.set_xsave(registers.xsave); !r) return r;
  } else {
    if (auto r = vcpu.set_fpu(registers.fpu); !r) return r;
  }
  if (auto r = vcpu.set_debugregs(registers.debugregs); !r) return r;
  if (auto r = load_msrs(vcpu, registers.msrs); !r) return r;
  auto events = registers.events;
  events.flags = KVM_VCPUEVENT_VALID_SHADOW;
  if (auto r = vcpu.set_events(events); !r) return r;
  return vcpu.refresh_run_page();
}

PlatformState capture_devices(Platform& platform) {
  return {platform.pic().save(), platform.pit().save(), platform.uart().save(),
          platform.rtc().save()};
}

void load_devices(Platform& platform, const PlatformState& state) {
  platform.pic().restore(state.pic);
  platform.pit().restore(state.pit);
  platform.uart().restore(state.uart);
  platform.rtc().restore(state.rtc);
}

Result<MachineState> capture_state(const Vcpu& vcpu, Platform& platform, const GuestMemory& memory,
                                   std::vector<uint64_t> page_gpas) {
  auto registers = capture_registers(vcpu);
  if (!registers) return registers.error();
  MachineState state{*registers, capture_devices(platform), std::move(page_gpas), {}};
  state.page_bytes.resize(state.page_gpas.size() * kStatePageBytes);
  for (size_t i = 0; i < state.page_gpas.size(); ++i) {
    auto page = memory.span(state.page_gpas[i], kStatePageBytes);
    if (!page) return page.error();
    std::memcpy(state.page_bytes.data() + i * kStatePageBytes, page->data(), kStatePageBytes);
  }
  return state;
}

Result<void> load_state(const MachineState& state, Vcpu& vcpu, Platform& platform,
                        const GuestMemory& memory) {
  for (size_t i = 0; i < state.page_gpas.size(); ++i) {
    auto page = memory.span(state.page_gpas[i], kStatePageBytes);
    if (!page) return page.error();
    std::memcpy(page->data(), state.page_bytes.data() + i * kStatePageBytes, kStatePageBytes);
  }
  load_devices(platform, state.devices);
  return load_registers(vcpu, state.vcpu);
}

std::vector<uint64_t> union_of_pages(std::span<const uint64_t> a, std::span<const uint64_t> b) {
  std::vector<uint64_t> out;
  out.reserve(a.size() + b.size());
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

}  // namespace ftvm
