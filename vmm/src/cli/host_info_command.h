#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace ftvm {

struct HostInfoOptions {
  std::string kvm_device = "/dev/kvm";
  bool json = false;
  bool reprobe = false;
};

// `ftvm host-info [--json]`: whether and how this host can run ftvm's VMs. Exits 0 when a VM
// can run here, 2 (kExitSetup) when not, so scripts can ask it first.
CLI::App* add_host_info_command(CLI::App& app, HostInfoOptions& options);
int host_info_command(const HostInfoOptions& options);

}  // namespace ftvm
