// The machine a log describes, as its TraceHeader: written by `ftvm record` into a trace and
// sent by `ftvm primary` in its hello; read back by `ftvm replay` and `ftvm backup` to build
// the same VM.
#pragma once

#include <linux/kvm.h>

#include <string>
#include <vector>

#include "machine/vm_session.h"
#include "replay/logged_disk.h"
#include "replay/recorder.h"
#include "replay/trace_header.h"
#include "vmm/live_backends.h"

namespace ftvm {

// On the software CPU the async mode is "counted", whatever was asked.
replay::TraceHeader make_trace_header(const GuestOptions& guest, const GuestImage& image,
                                      const Vm& vm, double max_delay_ms,
                                      const std::string& async_mode);

// The VM to build for a log with this header and guest image (which must outlive Vm::create).
VmConfig vm_config_for(const replay::TraceHeader& header, std::span<const uint8_t> image,
                       const std::string& kvm_device);

// --accel on a command that follows a log (replay, backup): `auto` takes the header's backend;
// another one than the header's is refused, since positions and CPU models differ between them.
// `what` names the log's source in the message ("trace", "primary").
Result<void> check_accel_matches(const std::string& requested, const replay::TraceHeader& header,
                                 const char* what);

// The recorded VM's disk, if its header names one, served from the log (`storage` drops the
// requests; every completion is a logged entry). `storage` must outlive the VM.
Result<void> attach_logged_disk(Vm& vm, const replay::TraceHeader& header,
                                replay::LoggedDisk& storage);

// The recorded VM's network card, if its header names one: received frames come from the log,
// transmitted ones go to `sink` (which must outlive the VM).
Result<void> attach_logged_net(Vm& vm, const replay::TraceHeader& header, NetSink& sink);

// Whether a recording with --async MODE on `accel` may take checkpoints, and so needs the dirty
// log. On KVM always (even --async breakpoint checkpoints where an injected interrupt is still
// queued); on the software CPU, whose log is a write hook that slows every store, only
// --async checkpoint (it injects at once, and falls back to counted landmarks).
bool may_checkpoint(Accel accel, const std::string& async_mode);

// The header's landmark mode: what the recorder will do on this backend.
std::string recorded_async_mode(Accel accel, const std::string& async_mode);

// The recorder's options for a live recording (`ftvm record`, `ftvm primary`): its probes
// get the budget that --max-delay implies.
// On KVM the host is probed first (vmm/host_probe.h, kept per boot): where it reports no
// breakpoints, auto checkpoints instead of probing; where its interrupt-window exit is exact,
// the runner delivers blocked interrupts there (options.interrupt_window) unless
// `interrupt_window_allowed` is false (--interrupt-window off). The software CPU
// needs no probe: it counts, or emulates the breakpoints, and its window is exact.
replay::RecordOptions live_record_options(Accel accel, const std::string& async_mode,
                                          double max_delay_ms,
                                          std::chrono::milliseconds digest_interval,
                                          const std::string& kvm_device,
                                          bool interrupt_window_allowed);

// A log whose recording delivered interrupts at the interrupt-window exit can be followed only
// where that exit is exact (vmm/exact_interrupt_window.h); `what` names the log's source.
Result<void> check_interrupt_window(const replay::TraceHeader& header, Accel accel,
                                    const std::string& kvm_device, const char* what);
// Where the replayer's breakpoint searches may go past a hit with RFLAGS.RF on this host
// (the host probe on KVM, kept per boot); for Replayer::set_resume_flag.
BreakpointReach replay_resume_flag(Accel accel, const std::string& kvm_device);
// Gives the recorder what it asks of the I/O thread: interrupt-window events and the kick
// that ends a probe.
void connect_recorder(replay::Recorder& recorder, LiveBackends& backends);

}  // namespace ftvm
