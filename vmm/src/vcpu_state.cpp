#include "vmm/vcpu_state.h"

#include <fmt/format.h>

#include <cstring>

namespace ftvm {

Result<VcpuRegisters> capture_registers(const KvmVcpu& vcpu) {
  VcpuRegisters out{};
  auto regs = vcpu.get_regs();
  if (!regs) return regs.error();
  auto sregs = vcpu.get_sregs();
  if (!sregs) return sregs.error();
  auto fpu = vcpu.get_fpu();
  if (!fpu) return fpu.error();
  auto events = vcpu.get_events();
  if (!events) return events.error();
  out.regs = *regs;
  out.sregs = *sregs;
  out.fpu = *fpu;
  out.events = *events;
  return out;
}

Result<void> load_registers(KvmVcpu& vcpu, const VcpuRegisters& registers) {
  // A vCPU stopped at a PIO or MMIO exit has not finished that instruction: KVM completes it
  // (in its emulator, with the registers it holds) on the next KVM_RUN. Let it do so now, or it
  // would complete it on top of the registers loaded below and execute the I/O twice.
  if (auto r = vcpu.refresh_run_page(); !r) return r;
  if (auto r = vcpu.set_sregs(registers.sregs); !r) return r;
  if (auto r = vcpu.set_regs(registers.regs); !r) return r;
  if (auto r = vcpu.set_fpu(registers.fpu); !r) return r;
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

Result<MachineState> capture_state(const KvmVcpu& vcpu, Platform& platform,
                                   const GuestMemory& memory, std::vector<uint64_t> page_gpas) {
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

Result<void> load_state(const MachineState& state, KvmVcpu& vcpu, Platform& platform,
                        const GuestMemory& memory) {
  for (size_t i = 0; i < state.page_gpas.size(); ++i) {
    auto page = memory.span(state.page_gpas[i], kStatePageBytes);
    if (!page) return page.error();
    std::memcpy(page->data(), state.page_bytes.data() + i * kStatePageBytes, kStatePageBytes);
  }
  load_devices(platform, state.devices);
  return load_registers(vcpu, state.vcpu);
}

std::vector<uint64_t> dirty_pages_from_bitmap(std::span<const uint64_t> bitmap) {
  std::vector<uint64_t> pages;
  for (size_t word = 0; word < bitmap.size(); ++word) {
    for (uint64_t bits = bitmap[word]; bits != 0; bits &= bits - 1) {
      pages.push_back((word * 64 + static_cast<uint64_t>(__builtin_ctzll(bits))) * kStatePageBytes);
    }
  }
  return pages;
}

}  // namespace ftvm
