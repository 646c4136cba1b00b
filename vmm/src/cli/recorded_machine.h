// The machine a log describes, as its TraceHeader: written by `ftvm record` into a trace and
// sent by `ftvm primary` in its hello; read back by `ftvm replay` and `ftvm backup` to build
// the same VM.
#pragma once

#include <linux/kvm.h>

#include <string>
#include <vector>

#include "replay/trace_header.h"
#include "vm_session.h"

namespace ftvm {

replay::TraceHeader make_trace_header(const GuestOptions& guest, const GuestImage& image,
                                      const std::vector<kvm_cpuid_entry2>& cpuid,
                                      double max_delay_ms, const std::string& async_mode);

// The VM to build for a log with this header and guest image (which must outlive Vm::create).
VmConfig vm_config_for(const replay::TraceHeader& header, std::span<const uint8_t> image,
                       const std::string& kvm_device);

}  // namespace ftvm
