#include "machine/record_vm.h"

#include <fmt/format.h>

#include "machine/exit_codes.h"
#include "machine/live_net.h"
#include "machine/recorded_machine.h"
#include "machine/trace_sink.h"
#include "machine/vm_session.h"
#include "replay/output_digest.h"
#include "replay/recorder.h"
#include "replay/recording_time_source.h"
#include "replay/trace_files.h"
#include "vmm/crash_report.h"
#include "vmm/live_backends.h"
#include "vmm/vcpu_runner.h"
#include "vmm/vm.h"

namespace ftvm {
namespace {

void print_landmarks(const replay::LandmarkCounts& l, const std::string& async_mode,
                     uint64_t log_bytes, double seconds) {
  fmt::print(stderr,
             "ftvm: landmarks: {} synchronous, {} breakpoint, {} checkpoint ({} pages, {} bytes "
             "compressed), {} counted; {} memory digests\n",
             l.synchronous, l.breakpoint, l.checkpoint, l.checkpoint_pages, l.checkpoint_bytes,
             l.counted, l.memory_digests);
  if (l.probes > 0 && async_mode == "breakpoint") {
    fmt::print(stderr,
               "ftvm: --async breakpoint probed {} stop points: {} came round and got a "
               "breakpoint ({:.1f} hits estimated per search), {} came round too hot to replay or "
               "with the same registers and memory ahead ({} of them) and got a {} instead, {} "
               "did not come round "
               "in time (breakpoint where the guest was then), {} reached an exit first "
               "(synchronous)\n",
               l.probes, l.probe_breakpoint, l.mean_estimated_hits(), l.breakpoint_fallbacks,
               l.probe_same_fingerprint, l.counted > 0 ? "counted landmark" : "checkpoint",
               l.probe_expired, l.probe_overtaken);
  } else if (l.probes > 0) {
    fmt::print(stderr,
               "ftvm: --async auto probed {} CPL0 stop points: {} came round and got a breakpoint "
               "({:.1f} hits estimated per search), {} came round hot and got a checkpoint ({} of "
               "them with the same registers and memory ahead), {} did not come round in time "
               "(checkpoint), {} "
               "reached an exit first (synchronous)\n",
               l.probes, l.probe_breakpoint, l.mean_estimated_hits(), l.probe_checkpoint,
               l.probe_same_fingerprint, l.probe_expired, l.probe_overtaken);
  }
  if (l.memory_discriminators > 0) {
    fmt::print(stderr,
               "ftvm: {} of {} breakpoint landmarks carry a digest of the memory ahead ({} probes "
               "told repeating registers apart by it); {} such digests took {:.1f} us each\n",
               l.breakpoint_memory, l.breakpoint, l.probe_told_by_memory, l.memory_discriminators,
               l.memory_discriminator_us / static_cast<double>(l.memory_discriminators));
  }
  fmt::print(stderr, "ftvm: trace log {} bytes ({:.0f} bytes per second of guest run)\n", log_bytes,
             seconds > 0 ? static_cast<double>(log_bytes) / seconds : 0.0);
}

}  // namespace

int record_vm(const RecordVmOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  auto files = open_live_files(options.guest, options.console, options.input_path);
  if (!files) return fail(files.error());
  const GuestImage& image = files->image;

  // The trace is opened before the VM exists (clock reads start at boot), so its header's
  // CPUID is filled in once the VM has chosen it: the writer is created after Vm::create, and
  // entries produced during creation wait in a buffer.
  BufferedTraceSink sink;
  HostTimeSource host_time;
  replay::RecordingTimeSource time(host_time, sink);
  FileConsole console(files->output.get());
  replay::DigestingConsole digesting_console(console);
  auto accel = choose_accel(options.guest, "record", /*emu_ready=*/true);
  if (!accel) return fail(accel.error());
  const double max_delay_ms = options.max_delay_ms.value_or(default_max_delay_ms(*accel));
  VmConfig config = make_vm_config(options.guest, image);
  config.accel = *accel;
  config.track_dirty_pages = may_checkpoint(*accel, options.async_mode);
  // The disk is opened before the VM, so a bad image is reported as such on any host.
  EventQueue events;
  auto disk = open_live_disk(options.guest.disk, events);
  if (!disk) return fail(disk.error());
  auto net = open_live_net(options.net, events);
  if (!net) return fail(net.error());
  auto vm = Vm::create(config, time, digesting_console);
  if (!vm) return fail(vm.error());
  const replay::RecordOptions record_options = live_record_options(
      *accel, options.async_mode, max_delay_ms, std::chrono::milliseconds(options.digest_ms),
      options.guest.kvm_device, options.interrupt_window != "off");
  replay::TraceHeader header =
      make_trace_header(options.guest, image, **vm, max_delay_ms, options.async_mode);
  header.interrupt_window = record_options.interrupt_window;
  if (*disk) {
    if (auto r = (*vm)->platform().attach_disk((*vm)->memory(), *(*disk)->backend, (*disk)->device);
        !r) {
      return fail(r.error());
    }
    header.disk_bytes = (*disk)->device.capacity_bytes;
    header.disk_read_only = (*disk)->device.read_only;
    header.disk_serial = (*disk)->device.serial;
  }
  if (*net) {
    if (auto r = attach_live_net(**vm, **net); !r) return fail(r.error());
    header.net_mac.assign((*net)->mac.begin(), (*net)->mac.end());
  }

  replay::TraceWriterOptions writer_options;
  writer_options.overwrite = options.overwrite;
  auto writer = replay::TraceWriter::create(options.trace_dir, header, image.bytes, writer_options);
  if (!writer) {
    return fail(make_error(writer.error().message +
                           (options.overwrite ? "" : " (to replace it: ftvm record --force)")));
  }
  if (auto r = sink.attach(*writer); !r) return fail(r.error());

  auto backends = LiveBackends::start(
      events, make_live_options(files->input.get(), options.seconds, max_delay_ms));
  if (!backends) return fail(backends.error());
  replay::Recorder recorder(events, sink, **vm, digesting_console, record_options);
  connect_recorder(recorder, **backends);
  VcpuRunner runner((*vm)->vcpu(), (*vm)->platform(), recorder);
  runner.set_use_interrupt_window(record_options.interrupt_window);
  time.set_exit_count([&runner] { return runner.exit_count(); });
  const RunResult result = run_live(runner, events, **backends);
  console.flush();

  if (result.reason == RunResult::Reason::kFault) {
    fmt::print(stderr, "ftvm: guest fault: {}\n{}", result.detail,
               crash_report((*vm)->vcpu(), (*vm)->memory(), runner.last_seen_registers()));
  }
  if (auto r = recorder.finish(runner, result); !r) return fail(r.error());
  if (auto r = writer->close(); !r) return fail(r.error());
  if (time.failed())
    return fail(make_error("could not log every clock read; the trace is unusable"));

  const RunReport report = make_report(result, started, console, runner.counters());
  print_report(report);
  print_landmarks(recorder.landmarks(), options.async_mode, writer->log_bytes(), report.seconds);
  fmt::print(stderr, "ftvm: interrupts the guest could not take at once went in {}\n",
             record_options.interrupt_window
                 ? "at the interrupt-window exit (exact here: ftvm host-info)"
                 : "at the next exit or a logged interrupt-window landmark");
  auto json = report_json(report);
  json["interrupt_window"] = record_options.interrupt_window;
  const auto& l = recorder.landmarks();
  json["landmarks"] = {{"synchronous", l.synchronous},
                       {"breakpoint", l.breakpoint},
                       {"checkpoint", l.checkpoint},
                       {"counted", l.counted},
                       {"checkpoint_pages", l.checkpoint_pages},
                       {"checkpoint_bytes", l.checkpoint_bytes},
                       {"probes", l.probes},
                       {"probe_breakpoint", l.probe_breakpoint},
                       {"probe_checkpoint", l.probe_checkpoint},
                       {"probe_same_fingerprint", l.probe_same_fingerprint},
                       {"probe_told_by_memory", l.probe_told_by_memory},
                       {"breakpoint_memory", l.breakpoint_memory},
                       {"memory_discriminators", l.memory_discriminators},
                       {"memory_discriminator_us", l.memory_discriminator_us},
                       {"probe_expired", l.probe_expired},
                       {"probe_overtaken", l.probe_overtaken},
                       {"probe_estimated_hits", l.probe_estimated_hits},
                       {"breakpoint_fallbacks", l.breakpoint_fallbacks},
                       {"memory_digests", l.memory_digests}};
  json["trace_log_bytes"] = writer->log_bytes();
  if (auto r = write_json(options.console.stats_json_path, json); !r) return fail(r.error());
  fmt::print(stderr, "ftvm: trace written to {}\n", options.trace_dir);
  return exit_code_for(result);
}

}  // namespace ftvm
