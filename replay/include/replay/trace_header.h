// The header of a trace (the file DIR/header): what a replay needs to rebuild the recorded
// machine before it applies any entry. Layout in docs/trace-format.md, "Header".
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "replay/format_version.h"
#include "vmm/result.h"

namespace ftvm::replay {

// One CPUID leaf the recorded guest saw (the fields of struct kvm_cpuid_entry2, kept free of
// linux/kvm.h so trace tools build anywhere).
struct CpuidLeaf {
  uint32_t function = 0;
  uint32_t index = 0;
  uint32_t flags = 0;
  uint32_t eax = 0;
  uint32_t ebx = 0;
  uint32_t ecx = 0;
  uint32_t edx = 0;
  bool operator==(const CpuidLeaf&) const = default;
};

struct TraceHeader {
  uint32_t format_version = kTraceFormatVersion;
  std::string guest_name;
  uint64_t guest_image_xxh3 = 0;  // of DIR/guest.elf
  uint64_t mem_bytes = 0;
  std::vector<CpuidLeaf> cpuid;
  uint64_t max_delay_ns = 0;  // how long the recorder waited for a synchronous landmark
  std::string async_mode;     // how it placed asynchronous ones
  int64_t created_unix_ns = 0;
  // The VM's disk (virtio-blk): its size, 0 for none. The replay builds the same device; its
  // contents are never needed, since every completion is in the log.
  uint64_t disk_bytes = 0;
  bool disk_read_only = false;
  std::string disk_serial;
  // The vCPU backend that recorded ("kvm" or "emu"): a replay runs on the same one, since
  // positions and CPU models differ between them.
  std::string accel = "kvm";
  // The VM's network card (virtio-net): its MAC, empty for none. The replay builds the same
  // device; received frames are in the log and transmitted ones go nowhere.
  std::vector<uint8_t> net_mac;
  // The recording delivered an interrupt the guest could not take at once at KVM's
  // interrupt-window exit (a host where the probe found that exit exact, or the software CPU);
  // its replay must do the same, on such a host. Otherwise such an interrupt waited for the
  // next exit or a logged InterruptWindow entry.
  bool interrupt_window = false;
  bool operator==(const TraceHeader&) const = default;
};

inline constexpr size_t kMaxGuestNameBytes = 4096;
inline constexpr size_t kMaxAsyncModeBytes = 256;
inline constexpr size_t kMaxCpuidLeaves = 4096;
inline constexpr size_t kMaxDiskSerialBytes = 20;
inline constexpr size_t kMaxAccelBytes = 16;
inline constexpr size_t kMacBytes = 6;

// Fails only if a field exceeds its limit above.
Result<std::vector<uint8_t>> encode_trace_header(const TraceHeader& header);

// Decodes untrusted bytes: rejects a wrong magic, an unsupported version, truncation, a
// checksum mismatch and malformed fields, each with a message saying which.
Result<TraceHeader> decode_trace_header(std::span<const uint8_t> bytes);

}  // namespace ftvm::replay
