#include "machine/recorded_machine.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <chrono>

#include "vmm/breakpoint_reach.h"
#include "vmm/exact_interrupt_window.h"
#include "vmm/host_probe_cache.h"

namespace ftvm {
namespace {

std::vector<kvm_cpuid_entry2> to_kvm_cpuid(const std::vector<replay::CpuidLeaf>& leaves) {
  std::vector<kvm_cpuid_entry2> cpuid;
  for (const auto& l : leaves) {
    kvm_cpuid_entry2 e{};
    e.function = l.function;
    e.index = l.index;
    e.flags = l.flags;
    e.eax = l.eax;
    e.ebx = l.ebx;
    e.ecx = l.ecx;
    e.edx = l.edx;
    cpuid.push_back(e);
  }
  return cpuid;
}

// The host probe's facts for this boot (host_probe_cache.h); nullopt where the probe failed, which
// every caller reads as "not measured".
std::optional<GuestDebugFacts> host_facts(const std::string& kvm_device) {
  auto cached = cached_guest_debug_facts(kvm_device);
  return cached ? std::optional(cached->facts) : std::nullopt;
}

}  // namespace

bool may_checkpoint(Accel accel, const std::string& async_mode) {
  return accel == Accel::kKvm || async_mode == "checkpoint";
}

std::string recorded_async_mode(Accel accel, const std::string& async_mode) {
  return accel == Accel::kEmu && async_mode == "auto" ? "counted" : async_mode;
}

replay::TraceHeader make_trace_header(const GuestOptions& guest, const GuestImage& image,
                                      const Vm& vm, double max_delay_ms,
                                      const std::string& async_mode) {
  replay::TraceHeader header;
  header.guest_name = image.name;
  header.guest_image_xxh3 = XXH3_64bits(image.bytes.data(), image.bytes.size());
  header.mem_bytes = guest.mem_mib << 20;
  for (const auto& e : vm.cpuid()) {
    header.cpuid.push_back({e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx});
  }
  header.max_delay_ns = static_cast<uint64_t>(max_delay_ms * 1e6);
  header.accel = accel_name(vm.accel());
  header.async_mode = recorded_async_mode(vm.accel(), async_mode);
  header.created_unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  return header;
}

VmConfig vm_config_for(const replay::TraceHeader& header, std::span<const uint8_t> image,
                       const std::string& kvm_device) {
  VmConfig config;
  config.mem_bytes = header.mem_bytes;
  config.kvm_device = kvm_device;
  config.image = image;
  config.image_name = header.guest_name;
  config.cpuid = to_kvm_cpuid(header.cpuid);
  config.accel = header.accel == "emu" ? Accel::kEmu : Accel::kKvm;
  return config;
}

Result<void> check_accel_matches(const std::string& requested, const replay::TraceHeader& header,
                                 const char* what) {
  if (requested == "auto" || requested == header.accel) return {};
  return make_error(fmt::format(
      "the {} ran on {}; --accel {} cannot follow it: positions and CPU models differ between "
      "the backends (leave --accel out to take the {}'s)",
      what, header.accel == "emu" ? "the software CPU (emu)" : "KVM", requested, what));
}

Result<void> attach_logged_disk(Vm& vm, const replay::TraceHeader& header,
                                replay::LoggedDisk& storage) {
  if (header.disk_bytes == 0) return {};
  return vm.platform().attach_disk(vm.memory(), storage,
                                   {header.disk_bytes, header.disk_read_only, header.disk_serial});
}

Result<void> attach_logged_net(Vm& vm, const replay::TraceHeader& header, NetSink& sink) {
  if (header.net_mac.empty()) return {};
  VirtioNet::Mac mac{};
  std::copy(header.net_mac.begin(), header.net_mac.end(), mac.begin());
  return vm.platform().attach_net(vm.memory(), sink, mac);
}

replay::RecordOptions live_record_options(Accel accel, const std::string& async_mode,
                                          double max_delay_ms,
                                          std::chrono::milliseconds digest_interval,
                                          const std::string& kvm_device,
                                          bool interrupt_window_allowed) {
  replay::RecordOptions options;
  options.async_mode = *replay::parse_async_mode(async_mode);
  options.digest_interval = digest_interval;
  options.probe_budget =
      replay::probe_budget_for(std::chrono::nanoseconds(static_cast<int64_t>(max_delay_ms * 1e6)));
  options.breakpoints = breakpoint_reach(accel, std::nullopt);
  options.interrupt_window =
      interrupt_window_allowed && exact_interrupt_window(accel, std::nullopt);
  if (accel != Accel::kKvm) return options;
  const auto facts = host_facts(kvm_device);
  options.interrupt_window = interrupt_window_allowed && exact_interrupt_window(accel, facts);
  if (options.async_mode == replay::AsyncMode::kCheckpoint) return options;
  options.breakpoints = breakpoint_reach(accel, facts);
  options.shortest_loop = shortest_loop(accel, facts);
  if (!options.breakpoints.cpl0 && !options.breakpoints.cpl3) {
    fmt::print(stderr,
               "ftvm: this host's KVM reports no hardware breakpoints in guest code (see ftvm "
               "host-info): {}\n",
               options.async_mode == replay::AsyncMode::kAuto
                   ? "asynchronous landmarks are checkpoints"
                   : "--async breakpoint landmarks will not replay; use auto or checkpoint");
  }
  return options;
}

Result<void> check_interrupt_window(const replay::TraceHeader& header, Accel accel,
                                    const std::string& kvm_device, const char* what) {
  if (!header.interrupt_window || accel != Accel::kKvm) return {};
  const auto facts = host_facts(kvm_device);
  if (exact_interrupt_window(accel, facts)) return {};
  return make_error(fmt::format(
      "the {} delivered interrupts at the interrupt-window exit, which this host's KVM does not "
      "take exactly ({}); it cannot be followed here: the interrupts would land elsewhere "
      "(see ftvm host-info)",
      what, describe_interrupt_window(accel, facts)));
}

BreakpointReach replay_resume_flag(Accel accel, const std::string& kvm_device) {
  if (accel != Accel::kKvm) return resume_flag_reach(accel, std::nullopt);
  return resume_flag_reach(accel, host_facts(kvm_device));
}

void connect_recorder(replay::Recorder& recorder, LiveBackends& backends) {
  recorder.set_window_request([&backends] { backends.push_deferred(InterruptWindow{}); });
  recorder.set_probe_kick(
      [&backends](std::chrono::nanoseconds delay) { backends.kick_after(delay); });
}

}  // namespace ftvm
