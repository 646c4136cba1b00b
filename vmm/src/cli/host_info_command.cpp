#include "host_info_command.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "machine/exit_codes.h"
#include "vmm/breakpoint_reach.h"
#include "vmm/emu_vcpu.h"
#include "vmm/exact_interrupt_window.h"
#include "vmm/host_info.h"

namespace ftvm {
namespace {

nlohmann::json guest_debug_json(const HostInfo& info) {
  if (!info.guest_debug) {
    return info.probe_problem.empty() ? nlohmann::json(nullptr)
                                      : nlohmann::json{{"probe_problem", info.probe_problem}};
  }
  const auto& facts = *info.guest_debug;
  return {{"breakpoint_cpl0", facts.breakpoint_cpl0},
          {"single_step_cpl0", facts.single_step_cpl0},
          {"cpl0_instructions_per_second", facts.cpl0_instructions_per_second},
          {"breakpoint_cpl3", facts.breakpoint_cpl3},
          {"single_step_cpl3", facts.single_step_cpl3},
          {"cpl3_instructions_per_second", facts.cpl3_instructions_per_second},
          {"resume_flag_cpl0", facts.resume_flag_cpl0},
          {"resume_flag_cpl3", facts.resume_flag_cpl3},
          {"interrupt_window_cpl0", facts.interrupt_window_cpl0},
          {"interrupt_window_cpl3", facts.interrupt_window_cpl3},
          {"interrupt_window_used", exact_interrupt_window(Accel::kKvm, facts)},
          {"notes", facts.notes},
          {"cached", info.probe_cached},
          {"cache_path", info.probe_cache_path}};
}

nlohmann::json to_json(const HostInfo& info) {
  nlohmann::json capabilities = nlohmann::json::object();
  for (const auto& c : info.capabilities) capabilities[c.name] = c.value;
  return {{"kvm_device", info.kvm_device},
          {"kvm_usable", info.kvm_usable},
          {"kvm_problem", info.kvm_problem},
          {"kvm_api_version", info.kvm_api_version},
          {"kvm_modules", info.kvm_modules},
          {"cpu_model", info.cpu_model},
          {"capabilities", capabilities},
          {"backend", info.backend},
          {"guest_debug", guest_debug_json(info)},
          {"software_cpu",
           {{"engine", info.emu_engine},
            {"usable", info.emu_problem.empty()},
            {"problem", info.emu_problem}}}};
}

std::string capability_list(const HostInfo& info) {
  std::vector<std::string> items;
  for (const auto& c : info.capabilities) {
    items.push_back(c.value > 0 ? (c.value == 1 ? c.name : fmt::format("{}={}", c.name, c.value))
                                : fmt::format("no {}", c.name));
  }
  return fmt::format("{}", fmt::join(items, ", "));
}

const char* yes_no(bool value) {
  return value ? "yes" : "no";
}

void print_guest_debug(const HostInfo& info) {
  if (!info.probe_problem.empty()) fmt::print("host probe:   failed: {}\n", info.probe_problem);
  if (!info.guest_debug) return;
  const auto& facts = *info.guest_debug;
  fmt::print(
      "guest debug:  breakpoints at CPL0 {}, at CPL3 {}; single-step at CPL0 {}, at CPL3 {}; "
      "RFLAGS.RF resumes past a breakpoint at CPL0 {}, at CPL3 {}\n",
      yes_no(facts.breakpoint_cpl0), yes_no(facts.breakpoint_cpl3), yes_no(facts.single_step_cpl0),
      yes_no(facts.single_step_cpl3), yes_no(facts.resume_flag_cpl0),
      yes_no(facts.resume_flag_cpl3));
  fmt::print(
      "guest speed:  CPL0 {:.1f}, CPL3 {:.1f} M instructions/s (a counted loop, less one "
      "exit's cost)\n",
      facts.cpl0_instructions_per_second / 1e6, facts.cpl3_instructions_per_second / 1e6);
  if (!facts.notes.empty()) fmt::print("probe notes:  {}\n", facts.notes);
  fmt::print("landmarks:    {}\n", describe_breakpoint_reach(breakpoint_reach(Accel::kKvm, facts)));
  fmt::print("interrupts:   {}\n", describe_interrupt_window(Accel::kKvm, facts));
  if (info.probe_cached) {
    fmt::print("probe:        measured earlier this boot, kept in {} (--reprobe measures again)\n",
               info.probe_cache_path);
  } else {
    fmt::print("probe:        measured now{}\n",
               info.probe_cache_path.empty() ? " (nowhere to keep it: every command measures again)"
                                             : ", kept for this boot in " + info.probe_cache_path);
  }
}

void print_human(const HostInfo& info) {
  fmt::print("kvm device:   {} ({})\n", info.kvm_device, info.kvm_usable ? "usable" : "not usable");
  if (!info.kvm_problem.empty()) fmt::print("problem:      {}\n", info.kvm_problem);
  fmt::print("kvm modules:  {}\n", info.kvm_modules.empty()
                                       ? "none loaded"
                                       : fmt::format("{}", fmt::join(info.kvm_modules, ", ")));
  if (info.kvm_api_version) fmt::print("kvm api:      {}\n", info.kvm_api_version);
  if (!info.capabilities.empty()) fmt::print("capabilities: {}\n", capability_list(info));
  fmt::print("cpu:          {}\n", info.cpu_model.empty() ? "unknown" : info.cpu_model);
  print_guest_debug(info);
  fmt::print("software cpu: {} ({})\n", info.emu_engine,
             info.emu_problem.empty() ? "usable: --accel emu" : info.emu_problem);
  fmt::print("backend:      {}\n",
             info.kvm_usable
                 ? "kvm"
                 : fmt::format("emu: VMs run on the software CPU ({}) here; scripts/kvm-box "
                               "runs the KVM tests under an emulated KVM",
                               EmuVcpu::engine_version()));
}

}  // namespace

CLI::App* add_host_info_command(CLI::App& app, HostInfoOptions& options) {
  auto* command = app.add_subcommand(
      "host-info", "Say whether this host can run ftvm's VMs: KVM, its module, capabilities");
  command->add_option("--kvm-device", options.kvm_device, "The KVM device")->capture_default_str();
  command->add_flag("--json", options.json, "Print one JSON object instead");
  command->add_flag("--reprobe", options.reprobe,
                    "Measure guest debugging again instead of using this boot's measurement");
  return command;
}

int host_info_command(const HostInfoOptions& options) {
  HostPaths paths;
  paths.kvm_device = options.kvm_device;
  paths.reprobe = options.reprobe;
  const HostInfo info = probe_host(paths);
  if (options.json) {
    fmt::print("{}\n", to_json(info).dump(2));
  } else {
    print_human(info);
  }
  return info.kvm_usable ? kExitOk : kExitSetup;
}

}  // namespace ftvm
