// Capture and load of a VM's execution state: vCPU registers (GPRs, segment and control
// registers, FPU, pending events), device models, and guest pages (all of them, or those
// dirtied since the last capture).
//
// One module, one versioned format, for every user: checkpoint landmarks of record/replay
// today; bringing up a new backup, re-protection and resync later.
//
// Encoding: "FTVS" magic, format version, the byte sizes of each KVM/device struct (a build
// whose layouts differ is refused rather than misread), then the structs, then the pages;
// the whole is zstd-compressed and carries an xxh3-64 checksum. Not covered yet: XSAVE state
// beyond the legacy FXSAVE area (testsvc uses no SSE/AVX) and MSRs (none of the guest's
// would change between an exit and a checkpoint without an exit in testsvc).
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <span>
#include <vector>

#include "vmm/guest_memory.h"
#include "vmm/kvm.h"
#include "vmm/platform.h"
#include "vmm/result.h"

namespace ftvm {

struct VcpuRegisters {
  kvm_regs regs;
  kvm_sregs sregs;
  kvm_fpu fpu;
  kvm_vcpu_events events;
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

Result<VcpuRegisters> capture_registers(const KvmVcpu& vcpu);
Result<void> load_registers(KvmVcpu& vcpu, const VcpuRegisters& registers);

PlatformState capture_devices(Platform& platform);
void load_devices(Platform& platform, const PlatformState& state);

// Captures registers, devices and the listed pages.
Result<MachineState> capture_state(const KvmVcpu& vcpu, Platform& platform,
                                   const GuestMemory& memory, std::vector<uint64_t> page_gpas);
Result<void> load_state(const MachineState& state, KvmVcpu& vcpu, Platform& platform,
                        const GuestMemory& memory);

std::vector<uint8_t> encode_state(const MachineState& state);
Result<MachineState> decode_state(std::span<const uint8_t> bytes);

// The pages marked in a KVM dirty bitmap (bit n = page n of the slot starting at GPA 0).
std::vector<uint64_t> dirty_pages_from_bitmap(std::span<const uint64_t> bitmap);

}  // namespace ftvm
