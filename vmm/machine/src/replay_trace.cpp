#include "machine/replay_trace.h"

#include <fmt/format.h>

#include "machine/exit_codes.h"
#include "machine/live_net.h"
#include "machine/recorded_machine.h"
#include "machine/vm_session.h"
#include "replay/output_digest.h"
#include "replay/replay_time_source.h"
#include "replay/replayer.h"
#include "replay/trace_files.h"
#include "vmm/periodic_kick.h"
#include "vmm/vcpu_runner.h"
#include "vmm/vm.h"

namespace ftvm {
namespace {

nlohmann::json stats_json(const replay::ReplayStats& s) {
  return {{"inputs", s.inputs},
          {"synchronous", s.synchronous},
          {"breakpoint", s.breakpoint},
          {"checkpoint", s.checkpoint},
          {"counted", s.counted},
          {"breakpoint_hits", s.breakpoint_hits},
          {"max_hits_per_breakpoint", s.max_hits},
          {"memory_mismatches", s.memory_mismatches},
          {"resumed_past_hits", s.resumed_past},
          {"checkpoint_load_ms", s.checkpoint_load_ms},
          {"memory_digests_checked", s.memory_digests},
          {"register_digests_checked", s.register_digests},
          {"output_digests_checked", s.output_digests}};
}

void print_stats(const replay::ReplayStats& s) {
  fmt::print(stderr,
             "ftvm: replayed {} inputs: {} synchronous, {} breakpoint ({} hits, at most {} for "
             "one, {} told from the landmark by memory alone, {} gone past with RFLAGS.RF), {} "
             "checkpoint ({:.1f} ms loading), "
             "{} counted; checked {} memory, {} register and {} output digests\n",
             s.inputs, s.synchronous, s.breakpoint, s.breakpoint_hits, s.max_hits,
             s.memory_mismatches, s.resumed_past, s.checkpoint, s.checkpoint_load_ms, s.counted,
             s.memory_digests, s.register_digests, s.output_digests);
}

}  // namespace

int replay_trace(const ReplayTraceOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  auto trace = replay::TraceReader::open(options.trace_dir);
  if (!trace) return fail(trace.error());
  if (auto r = check_accel_matches(options.accel, trace->header(), "trace"); !r) {
    return fail(r.error());
  }
  if (trace->torn_tail()) {
    fmt::print(stderr, "ftvm: warning: {}; replaying what precedes it\n", *trace->torn_tail());
  }
  auto output = open_console_output(options.console.console_path);
  if (!output) return fail(output.error());
  replay::SplitLog log = replay::split_log(trace->entries());

  FileConsole console(output->get());
  replay::DigestingConsole digesting_console(console);
  replay::ReplayTimeSource time(std::move(log.clock_reads));
  const VmConfig config = vm_config_for(trace->header(), trace->guest_image(), options.kvm_device);
  auto vm = Vm::create(config, time, digesting_console);
  if (!vm) {
    return fail(make_error(fmt::format("the trace was recorded on {}: {}",
                                       trace->header().accel == "emu" ? "the software CPU" : "KVM",
                                       vm.error().message)));
  }
  if (auto r = check_interrupt_window(trace->header(), (*vm)->accel(), options.kvm_device, "trace");
      !r) {
    return fail(r.error());
  }
  replay::LoggedDisk logged_disk;
  if (auto r = attach_logged_disk(**vm, trace->header(), logged_disk); !r) return fail(r.error());
  DiscardingNetSink logged_net;
  if (auto r = attach_logged_net(**vm, trace->header(), logged_net); !r) return fail(r.error());

  replay::Replayer replayer(std::move(log.others), **vm, time, digesting_console);
  replayer.set_resume_flag(replay_resume_flag((*vm)->accel(), options.kvm_device));
  install_kick_signal_handler();
  VcpuRunner runner((*vm)->vcpu(), (*vm)->platform(), replayer);
  runner.set_use_interrupt_window(trace->header().interrupt_window);
  time.set_exit_count([&runner] { return runner.exit_count(); });
  PeriodicKick watchdog(runner, std::chrono::milliseconds(200));
  RunResult result = replayer.conclude(runner, runner.run());
  watchdog.stop();
  console.flush();

  if (result.reason == RunResult::Reason::kDivergence) {
    fmt::print(stderr, "ftvm: {}", result.detail);
  }
  const RunReport report = make_report(result, started, console, runner.counters());
  print_report(report);
  print_stats(replayer.stats());
  auto json = report_json(report);
  json["replay"] = stats_json(replayer.stats());
  json["diverged"] = result.reason == RunResult::Reason::kDivergence;
  if (auto r = write_json(options.console.stats_json_path, json); !r) return fail(r.error());
  return exit_code_for(result);
}

}  // namespace ftvm
