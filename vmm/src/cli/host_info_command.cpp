#include "host_info_command.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "exit_codes.h"
#include "vmm/host_info.h"

namespace ftvm {
namespace {

nlohmann::json to_json(const HostInfo& info) {
  nlohmann::json capabilities = nlohmann::json::object();
  for (const auto& c : info.capabilities) capabilities[c.name] = c.value;
  return {{"kvm_device", info.kvm_device},   {"kvm_usable", info.kvm_usable},
          {"kvm_problem", info.kvm_problem}, {"kvm_api_version", info.kvm_api_version},
          {"kvm_modules", info.kvm_modules}, {"cpu_model", info.cpu_model},
          {"capabilities", capabilities},    {"backend", info.backend}};
}

std::string capability_list(const HostInfo& info) {
  std::vector<std::string> items;
  for (const auto& c : info.capabilities) {
    items.push_back(c.value > 0 ? (c.value == 1 ? c.name : fmt::format("{}={}", c.name, c.value))
                                : fmt::format("no {}", c.name));
  }
  return fmt::format("{}", fmt::join(items, ", "));
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
  fmt::print("backend:      {}\n",
             info.kvm_usable ? "kvm"
                             : "none (ftvm needs KVM here; scripts/kvm-box runs it under an "
                               "emulated KVM)");
}

}  // namespace

CLI::App* add_host_info_command(CLI::App& app, HostInfoOptions& options) {
  auto* command = app.add_subcommand(
      "host-info", "Say whether this host can run ftvm's VMs: KVM, its module, capabilities");
  command->add_option("--kvm-device", options.kvm_device, "The KVM device")->capture_default_str();
  command->add_flag("--json", options.json, "Print one JSON object instead");
  return command;
}

int host_info_command(const HostInfoOptions& options) {
  HostPaths paths;
  paths.kvm_device = options.kvm_device;
  const HostInfo info = probe_host(paths);
  if (options.json) {
    fmt::print("{}\n", to_json(info).dump(2));
  } else {
    print_human(info);
  }
  return info.kvm_usable ? kExitOk : kExitSetup;
}

}  // namespace ftvm
