// Capture and load of a VM's execution state: vCPU registers (GPRs, segment and control
// registers, the XSAVE area with x87/SSE/AVX state and its XCRs, debug registers, the MSRs a
// 64-bit kernel programs, pending events), device models, and guest pages (all of them, or
// those dirtied since the last capture).
//
// One module, one versioned format, for every user: checkpoint landmarks of record/replay
// today; bringing up a new backup, re-protection and resync later.
//
// Encoding: "FTVS" magic, format version, the byte sizes of each fixed KVM/device struct (a
// build whose layouts differ is refused rather than misread), then the structs, the XSAVE area
// and the MSRs (each sized by a count in front), then the pages; the whole is zstd-compressed
// and carries an xxh3-64 checksum. docs/trace-format.md has the byte layout.
//
// FPU: where KVM has XSAVE (every host this runs on in practice), the XSAVE area is captured
// and loaded, and kvm_fpu is neither (it is left zero): XSAVE holds the same x87/SSE state plus
// every component KVM_GET_FPU leaves out (AVX upper halves, PKRU, ...), and loading both would
// let the partial one overwrite part of the full one depending on order. Only on a host
// without XSAVE is kvm_fpu the FPU state.
//
// MSRs: the architectural ones a 64-bit guest kernel sets up once and relies on (SYSENTER_*,
// STAR, LSTAR, CSTAR, SFMASK, KERNEL_GS_BASE, PAT, and MISC_ENABLE and TSC_AUX where KVM lists
// them), as (index, value) pairs: a loader loads the pairs there are, so a blob captured with a
// different list still loads. IA32_TSC is deliberately absent: it follows host time, and the
// guest must observe time only through devices, whose reads are logged.
//
// Not covered: the local APIC (ftvm uses no in-kernel irqchip) and nested-virtualization state.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <span>
#include <vector>

#include "vmm/guest_memory.h"
#include "vmm/page_bitmap.h"
#include "vmm/platform.h"
#include "vmm/result.h"
#include "vmm/vcpu.h"

namespace ftvm {

struct MsrValue {
  uint32_t index;
  uint64_t value;
  bool operator==(const MsrValue&) const = default;
};

struct VcpuRegisters {
  kvm_regs regs;
  kvm_sregs sregs;
  kvm_fpu fpu;  // the FPU state only when `xsave` is empty (see the FPU note above)
  kvm_vcpu_events events;
  std::vector<uint8_t> xsave;  // kvm_xsave's bytes; empty on a host without XSAVE
  kvm_xcrs xcrs;               // nr_xcrs == 0: none (a host without XSAVE)
  kvm_debugregs debugregs;
  std::vector<MsrValue> msrs;  // ascending by index
};

struct PlatformState {
  PicState pic;
  PitState pit;
  UartState uart;
  CmosState rtc;
};

struct MachineState {
  VcpuRegisters vcpu;
  PlatformState devices;
  std::vector<uint64_t> page_gpas;  // 4 KiB pages, ascending
  std::vector<uint8_t> page_bytes;  // page_gpas.size() * 4096 bytes
};

inline constexpr uint64_t kStatePageBytes = 4096;
// Bounds on what a decoder accepts (and an encoder is given): far above what KVM has (an XSAVE
// area is 4 KiB, 11 KiB with AMX; KVM lists a few hundred MSRs) yet small enough that a
// damaged count cannot make the decoder allocate much.
inline constexpr uint32_t kMaxStateXsaveBytes = 256 * 1024;
inline constexpr uint32_t kMaxStateMsrs = 4096;

Result<VcpuRegisters> capture_registers(const Vcpu& vcpu);
Result<void> load_registers(Vcpu& vcpu, const VcpuRegisters& registers);

PlatformState capture_devices(Platform& platform);
void load_devices(Platform& platform, const PlatformState& state);

// Captures registers, devices and the listed pages.
Result<MachineState> capture_state(const Vcpu& vcpu, Platform& platform, const GuestMemory& memory,
                                   std::vector<uint64_t> page_gpas);
Result<void> load_state(const MachineState& state, Vcpu& vcpu, Platform& platform,
                        const GuestMemory& memory);

std::vector<uint8_t> encode_state(const MachineState& state);
Result<MachineState> decode_state(std::span<const uint8_t> bytes);
// The header, compression and checksum of encode_state() around already-serialized bytes: for
// tests and the fuzzer, so that crafted contents reach the parser past the checksum.
std::vector<uint8_t> seal_state_payload(std::span<const uint8_t> raw);

// The MSRs a captured state holds where the vCPU offers them (Vcpu::state_support), ascending.
std::span<const uint32_t> state_msr_indices();

// The pages in either of two ascending page lists, ascending, each once.
std::vector<uint64_t> union_of_pages(std::span<const uint64_t> a, std::span<const uint64_t> b);

}  // namespace ftvm
