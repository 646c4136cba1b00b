#include "vmm/host_probe.h"

#include <fmt/format.h>
#include <linux/kvm.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <span>
#include <string>

#include "vmm/devices/console.h"
#include "vmm/devices/time_source.h"
#include "vmm/guest_debug.h"
#include "vmm/vm.h"

extern "C" const uint8_t ftvm_host_probe_image_start[];
extern "C" const uint8_t ftvm_host_probe_image_end[];

namespace ftvm {
namespace {

constexpr uint16_t kProbePort = 0x600;       // host_probe.S's PROBE_PORT
constexpr uint64_t kProbeMmio = 0x3fe00000;  // its PROBE_MMIO, where CPL3 code reports
constexpr int kMaxExits = 1000;              // the guest needs about ten

class NullConsole final : public ConsoleSink {
 public:
  void write(std::span<const uint8_t>) override {}
};

struct ProbeExit {
  enum class Kind { kStage, kDebug, kWindow, kEnd } kind;
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
            last_stage_ = value;
            return ProbeExit{ProbeExit::Kind::kStage, value};
          }
          return ProbeExit{ProbeExit::Kind::kEnd, 0};  // the shutdown port
        case KVM_EXIT_MMIO:
          if (run->mmio.is_write && run->mmio.phys_addr == kProbeMmio && run->mmio.len == 4) {
            uint32_t value = 0;
            std::memcpy(&value, run->mmio.data, sizeof(value));
            last_stage_ = value;
            return ProbeExit{ProbeExit::Kind::kStage, value};
          }
          if (run->mmio.phys_addr == kProbeMmio + 4) return ProbeExit{ProbeExit::Kind::kEnd, 0};
          return make_error(fmt::format("the probe guest accessed {:#x} after stage {}{}",
                                        run->mmio.phys_addr, last_stage_, where()));
        case KVM_EXIT_HLT:
          return ProbeExit{ProbeExit::Kind::kEnd, 0};
        case KVM_EXIT_IRQ_WINDOW_OPEN:
          return ProbeExit{ProbeExit::Kind::kWindow, 0};
        default:
          return make_error(fmt::format("the probe guest stopped with KVM exit {} after stage {}{}",
                                        run->exit_reason, last_stage_, where()));
      }
    }
    return make_error("the probe guest did not finish");
  }

  Result<uint64_t> rbx() {
    auto regs = vm_.vcpu().get_regs();
    if (!regs) return regs.error();
    return regs->rbx;
  }

  Result<uint64_t> rip() {
    auto regs = vm_.vcpu().get_regs();
    if (!regs) return regs.error();
    return regs->rip;
  }

  void request_interrupt_window(bool on) {
    vm_.vcpu().run_page()->request_interrupt_window = on ? 1 : 0;
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
  // Where the guest stopped, for the report ("" where the registers cannot be read).
  std::string where() {
    auto regs = vm_.vcpu().get_regs();
    if (!regs) return "";
    return fmt::format(" (rip {:#x}, rflags {:#x})", regs->rip, regs->rflags);
  }

  Vm& vm_;
  int exits_ = 0;
  uint64_t last_stage_ = 0;
};

// One privilege level's checks: its first stage number and where its findings go.
struct Level {
  const char* name;
  // The breakpoint check's; +1 the step's, +2 to +5 the loop's, +6 and +7 the window's.
  uint64_t first_stage;
  bool GuestDebugFacts::*breakpoint;
  bool GuestDebugFacts::*resume_flag;
  bool GuestDebugFacts::*single_step;
  double GuestDebugFacts::*instructions_per_second;
  bool GuestDebugFacts::*interrupt_window;
};

constexpr Level kCpl0{"CPL0",
                      1,
                      &GuestDebugFacts::breakpoint_cpl0,
                      &GuestDebugFacts::resume_flag_cpl0,
                      &GuestDebugFacts::single_step_cpl0,
                      &GuestDebugFacts::cpl0_instructions_per_second,
                      &GuestDebugFacts::interrupt_window_cpl0};
constexpr Level kCpl3{"CPL3",
                      9,
                      &GuestDebugFacts::breakpoint_cpl3,
                      &GuestDebugFacts::resume_flag_cpl3,
                      &GuestDebugFacts::single_step_cpl3,
                      &GuestDebugFacts::cpl3_instructions_per_second,
                      &GuestDebugFacts::interrupt_window_cpl3};

// Stopped at the breakpoint, the guest is resumed with RFLAGS.RF set and the breakpoint still
// armed: the next exit must be the following stage, not the same breakpoint again. Returns
// that exit.
Result<ProbeExit> check_resume_flag(ProbeRun& probe, const Level& level, uint64_t target,
                                    GuestDebugFacts& facts) {
  constexpr uint64_t kRflagsRf = 1ull << 16;
  auto regs = probe.vcpu().get_regs();
  if (!regs) return regs.error();
  regs->rflags |= kRflagsRf;
  if (auto r = probe.vcpu().set_regs(*regs); !r) return r.error();
  auto exit = probe.next();
  if (!exit) return exit.error();
  facts.*level.resume_flag = exit->kind != ProbeExit::Kind::kDebug || exit->value != target;
  if (!(facts.*level.resume_flag)) {
    facts.notes += fmt::format(
        "resumed with RF set, the {} breakpoint at {:#x} was reported again; ", level.name, target);
  }
  return *exit;
}

// The first stage names an instruction a few instructions on; is a breakpoint there reported?
Result<void> check_breakpoint(ProbeRun& probe, const Level& level, GuestDebugFacts& facts) {
  if (auto r = probe.until_stage(level.first_stage); !r) return r;
  auto target = probe.rbx();
  if (!target) return target.error();
  if (auto r = arm_execution_breakpoint(probe.vcpu(), *target); !r) return r;
  auto exit = probe.next();
  if (!exit) return exit.error();
  if (exit->kind == ProbeExit::Kind::kDebug) {
    facts.*level.breakpoint = exit->value == *target;
    if (!(facts.*level.breakpoint)) {
      facts.notes += fmt::format("a {} breakpoint at {:#x} was reported at {:#x}; ", level.name,
                                 *target, exit->value);
    }
  }
  if (facts.*level.breakpoint) {
    auto resumed = check_resume_flag(probe, level, *target, facts);
    if (!resumed) return resumed.error();
    exit = *resumed;
  }
  if (auto r = clear_guest_debug(probe.vcpu()); !r) return r;
  const uint64_t step_stage = level.first_stage + 1;
  if (exit->kind == ProbeExit::Kind::kStage && exit->value == step_stage) return {};
  return probe.until_stage(step_stage);
}

// The next stage names where one step from the instruction after it lands. The first step
// after a port exit may stop before that instruction instead (the port access completing): one
// more.
Result<void> check_single_step(ProbeRun& probe, const Level& level, GuestDebugFacts& facts) {
  auto target = probe.rbx();
  if (!target) return target.error();
  if (auto r = single_step(probe.vcpu()); !r) return r;
  for (int step = 0; step < 2; ++step) {
    auto exit = probe.next();
    if (!exit) return exit.error();
    if (exit->kind != ProbeExit::Kind::kDebug) break;
    if (exit->value == *target) {
      facts.*level.single_step = true;
      break;
    }
  }
  if (!(facts.*level.single_step)) {
    facts.notes += fmt::format("single-stepping {} code reported no step; ", level.name);
  }
  return clear_guest_debug(probe.vcpu());
}

// The four stages after: two with nothing between them (what an exit adds to the timing),
// then two with a counted loop between them; rbx = its instructions. Where the loop is short
// for the host (a fast host runs the CPL0 loop, sized for kvm_pvm, in microseconds), the exit
// would otherwise be most of what is timed.
Result<void> time_loop(ProbeRun& probe, const Level& level, GuestDebugFacts& facts) {
  using Clock = std::chrono::steady_clock;
  if (auto r = probe.until_stage(level.first_stage + 2); !r) return r;
  auto instructions = probe.rbx();
  if (!instructions) return instructions.error();
  const auto exit_started = Clock::now();
  if (auto r = probe.until_stage(level.first_stage + 3); !r) return r;
  const auto exit_cost = Clock::now() - exit_started;
  if (auto r = probe.until_stage(level.first_stage + 4); !r) return r;
  const auto started = Clock::now();
  if (auto r = probe.until_stage(level.first_stage + 5); !r) return r;
  const auto loop = Clock::now() - started;
  // At least a tenth of what was timed: an exit that happened to cost more than the loop and
  // the exit together must not make the speed absurd.
  const std::chrono::duration<double> took = std::max(loop - exit_cost, loop / 10);
  facts.*level.instructions_per_second = static_cast<double>(*instructions) / took.count();
  return {};
}

// The window is asked for with IF=0, a few hundred instructions before an `sti`; it must
// open right after the instruction in the STI shadow. A host that leaves it later (or never)
// would make a recording's interrupt land somewhere its replay cannot find again.
// A guest that could not clear IF (CPL3 where the host dropped its IOPL) skips to the last stage.
Result<void> check_interrupt_window(ProbeRun& probe, const Level& level, GuestDebugFacts& facts) {
  const uint64_t done_stage = level.first_stage + 7;
  auto start = probe.next();
  if (!start) return start.error();
  if (start->kind == ProbeExit::Kind::kStage && start->value == done_stage) {
    facts.notes += fmt::format(
        "the interrupt window was not checked in {} code: the host gave it no IOPL 3 for cli and "
        "sti; ",
        level.name);
    return {};
  }
  if (start->kind != ProbeExit::Kind::kStage || start->value != level.first_stage + 6) {
    if (auto r = probe.until_stage(level.first_stage + 6); !r) return r;
  }
  auto opens_at = probe.rbx();
  if (!opens_at) return opens_at.error();
  probe.request_interrupt_window(true);
  auto exit = probe.next();
  probe.request_interrupt_window(false);
  if (!exit) return exit.error();
  if (exit->kind != ProbeExit::Kind::kWindow) {
    facts.notes += fmt::format("no interrupt-window exit came in {} code; ", level.name);
    if (exit->kind == ProbeExit::Kind::kStage && exit->value == done_stage) return {};
    return probe.until_stage(done_stage);
  }
  auto at = probe.rip();
  if (!at) return at.error();
  facts.*level.interrupt_window = *at == *opens_at;
  if (*at != *opens_at) {
    facts.notes += fmt::format(
        "the interrupt window opened at {:#x} in {} code, the exit came at {:#x} ({:+d} bytes); ",
        *opens_at, level.name, *at, static_cast<int64_t>(*at - *opens_at));
  }
  return probe.until_stage(done_stage);
}

// The debug checks that may kill the guest: a host that delivers the #DB to the guest instead of
// reporting it (kvm_pvm single-stepping CPL3 code) leaves it no handler, and it shuts down. The
// probe is then run again with that check left out, its fact false and the reason noted.
enum class DebugCheck { kNone, kBreakpoint, kSingleStep };

struct Attempt {
  // Checks left out, per level (kCpl0, kCpl3): bits of 1 << DebugCheck.
  std::array<unsigned, 2> skipped{};
  // The check running when the guest stopped, and its level.
  DebugCheck running = DebugCheck::kNone;
  size_t level = 0;

  bool skips(size_t level_index, DebugCheck check) const {
    return (skipped[level_index] & (1u << static_cast<unsigned>(check))) != 0;
  }
};

Result<void> check_level(ProbeRun& probe, size_t index, const Level& level, Attempt& attempt,
                         GuestDebugFacts& facts) {
  attempt.level = index;
  attempt.running = DebugCheck::kBreakpoint;
  if (attempt.skips(index, DebugCheck::kBreakpoint)) {
    if (auto r = probe.until_stage(level.first_stage + 1); !r) return r;
  } else if (auto r = check_breakpoint(probe, level, facts); !r) {
    return r;
  }
  attempt.running = DebugCheck::kSingleStep;
  if (!attempt.skips(index, DebugCheck::kSingleStep)) {
    if (auto r = check_single_step(probe, level, facts); !r) return r;
  }
  attempt.running = DebugCheck::kNone;
  if (auto r = time_loop(probe, level, facts); !r) return r;
  return check_interrupt_window(probe, level, facts);
}

constexpr std::array<const Level*, 2> kLevels{&kCpl0, &kCpl3};

Result<GuestDebugFacts> probe_once(const std::string& kvm_device, Attempt& attempt) {
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
  for (size_t i = 0; i < kLevels.size(); ++i) {
    if (auto r = check_level(probe, i, *kLevels[i], attempt, facts); !r) return r.error();
  }
  return facts;
}

}  // namespace

Result<GuestDebugFacts> probe_guest_debug(const std::string& kvm_device) {
  Attempt attempt;
  std::string notes;
  for (;;) {
    attempt.running = DebugCheck::kNone;
    auto facts = probe_once(kvm_device, attempt);
    if (facts) {
      facts->notes = notes + facts->notes;
      return facts;
    }
    // Only a debug check may be left out, and each once: anything else is the probe's failure.
    const unsigned bit = 1u << static_cast<unsigned>(attempt.running);
    if (attempt.running == DebugCheck::kNone || (attempt.skipped[attempt.level] & bit) != 0) {
      return facts.error();
    }
    attempt.skipped[attempt.level] |= bit;
    notes +=
        fmt::format("{} in {} code stopped the guest ({}), so it was left out; ",
                    attempt.running == DebugCheck::kBreakpoint ? "a breakpoint" : "single-stepping",
                    kLevels[attempt.level]->name, facts.error().message);
  }
}

}  // namespace ftvm
