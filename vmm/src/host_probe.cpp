#include "vmm/host_probe.h"

#include <fmt/format.h>
#include <linux/kvm.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <span>

#include "vmm/devices/console.h"
#include "vmm/devices/time_source.h"
#include "vmm/guest_debug.h"
#include "vmm/vm.h"

extern "C" const uint8_t ftvm_host_probe_image_start[];
extern "C" const uint8_t ftvm_host_probe_image_end[];

namespace ftvm {
namespace {

constexpr uint16_t kProbePort = 0x600;  // host_probe.S's PROBE_PORT
constexpr int kMaxExits = 1000;         // the guest needs about ten

class NullConsole final : public ConsoleSink {
 public:
  void write(std::span<const uint8_t>) override {}
};

struct ProbeExit {
  enum class Kind { kStage, kDebug, kEnd } kind;
  uint64_t value = 0;  // the stage number, or the debug exit's RIP
};

class ProbeRun {
 public:
  explicit ProbeRun(Vm& vm) : vm_(vm) {}

  Result<ProbeExit> next() {
    kvm_run* run = vm_.vcpu().run_page();
    while (exits_++ < kMaxExits) {
      const int error = vm_.vcpu().run();
      if (error == EINTR) continue;
      if (error != 0) return make_error(fmt::format("KVM_RUN: {}", std::strerror(error)));
      switch (run->exit_reason) {
        case KVM_EXIT_DEBUG:
          return ProbeExit{ProbeExit::Kind::kDebug, run->debug.arch.pc};
        case KVM_EXIT_IO:
          if (run->io.direction == KVM_EXIT_IO_OUT && run->io.port == kProbePort) {
            uint32_t value = 0;
            std::memcpy(&value, reinterpret_cast<const uint8_t*>(run) + run->io.data_offset,
                        sizeof(value));
            return ProbeExit{ProbeExit::Kind::kStage, value};
          }
          return ProbeExit{ProbeExit::Kind::kEnd, 0};  // the shutdown port
        case KVM_EXIT_HLT:
          return ProbeExit{ProbeExit::Kind::kEnd, 0};
        default:
          return make_error(
              fmt::format("the probe guest stopped with KVM exit {}", run->exit_reason));
      }
    }
    return make_error("the probe guest did not finish");
  }

  Result<uint64_t> rbx() {
    auto regs = vm_.vcpu().get_regs();
    if (!regs) return regs.error();
    return regs->rbx;
  }

  Result<void> until_stage(uint64_t stage) {
    for (;;) {
      auto exit = next();
      if (!exit) return exit.error();
      if (exit->kind == ProbeExit::Kind::kStage && exit->value == stage) return {};
      if (exit->kind == ProbeExit::Kind::kEnd) {
        return make_error(fmt::format("the probe guest ended before stage {}", stage));
      }
    }
  }

  Vcpu& vcpu() { return vm_.vcpu(); }

 private:
  Vm& vm_;
  int exits_ = 0;
};

// Stage 1 names an instruction a few instructions on; is a breakpoint there reported?
Result<void> check_breakpoint(ProbeRun& probe, GuestDebugFacts& facts) {
  if (auto r = probe.until_stage(1); !r) return r;
  auto target = probe.rbx();
  if (!target) return target.error();
  if (auto r = arm_execution_breakpoint(probe.vcpu(), *target); !r) return r;
  auto exit = probe.next();
  if (!exit) return exit.error();
  if (exit->kind == ProbeExit::Kind::kDebug) {
    facts.breakpoint_cpl0 = exit->value == *target;
    if (!facts.breakpoint_cpl0) {
      facts.notes +=
          fmt::format("a CPL0 breakpoint at {:#x} was reported at {:#x}; ", *target, exit->value);
    }
  }
  if (auto r = clear_guest_debug(probe.vcpu()); !r) return r;
  if (exit->kind == ProbeExit::Kind::kStage && exit->value == 2) return {};
  return probe.until_stage(2);
}

// Stage 2 names where one step from the instruction after it lands. The first step after a
// port exit may stop before that instruction instead (the port access completing): one more.
Result<void> check_single_step(ProbeRun& probe, GuestDebugFacts& facts) {
  auto target = probe.rbx();
  if (!target) return target.error();
  if (auto r = single_step(probe.vcpu()); !r) return r;
  for (int step = 0; step < 2; ++step) {
    auto exit = probe.next();
    if (!exit) return exit.error();
    if (exit->kind != ProbeExit::Kind::kDebug) break;
    if (exit->value == *target) {
      facts.single_step_cpl0 = true;
      break;
    }
  }
  if (!facts.single_step_cpl0) facts.notes += "single-stepping CPL0 code reported no step; ";
  return clear_guest_debug(probe.vcpu());
}

// Stage 3 to 4: a counted loop; rbx = its instructions.
Result<void> time_loop(ProbeRun& probe, GuestDebugFacts& facts) {
  if (auto r = probe.until_stage(3); !r) return r;
  auto instructions = probe.rbx();
  if (!instructions) return instructions.error();
  const auto started = std::chrono::steady_clock::now();
  if (auto r = probe.until_stage(4); !r) return r;
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
  facts.cpl0_instructions_per_second = static_cast<double>(*instructions) / took.count();
  return {};
}

}  // namespace

Result<GuestDebugFacts> probe_guest_debug(const std::string& kvm_device) {
  VmConfig config;
  config.mem_bytes = VmConfig::kMinMemBytes;
  config.image = std::span<const uint8_t>(ftvm_host_probe_image_start,
                                          ftvm_host_probe_image_end - ftvm_host_probe_image_start);
  config.image_name = "host probe";
  config.kvm_device = kvm_device;
  HostTimeSource time;
  NullConsole console;
  auto vm = Vm::create(config, time, console);
  if (!vm) return vm.error();
  ProbeRun probe(**vm);
  GuestDebugFacts facts;
  if (auto r = check_breakpoint(probe, facts); !r) return r.error();
  if (auto r = check_single_step(probe, facts); !r) return r.error();
  if (auto r = time_loop(probe, facts); !r) return r.error();
  return facts;
}

}  // namespace ftvm
