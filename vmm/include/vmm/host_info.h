// What this host offers ftvm: whether /dev/kvm is usable, which KVM module provides it, the CPU,
// and the KVM capabilities ftvm relies on. `ftvm host-info` prints it; scripts read it to say
// where a VM will run.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "vmm/host_probe.h"
#include "vmm/kvm.h"
#include "vmm/result.h"

namespace ftvm {

struct KvmCapability {
  std::string name;
  int value = 0;  // KVM_CHECK_EXTENSION's answer: 0 = absent
  bool required = false;
};

struct HostInfo {
  std::string kvm_device;
  bool kvm_usable = false;
  std::string kvm_problem;  // why not, with advice; empty when usable
  int kvm_api_version = 0;
  // The loaded modules that provide KVM (kvm_intel, kvm_amd, kvm_pvm), from /sys/module.
  std::vector<std::string> kvm_modules;
  std::string cpu_model;
  std::vector<KvmCapability> capabilities;
  // What `--accel auto` picks: "kvm", or "emu" (the software CPU) with the reason KVM is not
  // usable in kvm_problem.
  std::string backend;
  // Measured with the host probe where KVM is usable (host_probe.h).
  std::optional<GuestDebugFacts> guest_debug;
  std::string probe_problem;  // why the probe failed, if it did
  bool probe_cached = false;  // read from this boot's cache (host_probe_cache.h)
  std::string probe_cache_path;
  // The software CPU: its engine, and why it cannot run here if it cannot (empty when it can).
  std::string emu_engine;
  std::string emu_problem;
};

struct HostPaths {
  std::string kvm_device = "/dev/kvm";
  std::string sys_module = "/sys/module";
  std::string cpuinfo = "/proc/cpuinfo";
  bool reprobe = false;  // measure guest debugging again instead of reading this boot's cache
};

HostInfo probe_host(const HostPaths& paths = {});

// Refuses a KVM that lacks a capability ftvm cannot run without.
Result<void> require_kvm_capabilities(const Kvm& kvm);

// The KVM modules among those loaded under `sys_module` (a /sys/module directory).
std::vector<std::string> loaded_kvm_modules(const std::string& sys_module);
// The first "model name" in a /proc/cpuinfo text, or "" if none.
std::string cpu_model_name(const std::string& cpuinfo_text);

}  // namespace ftvm
