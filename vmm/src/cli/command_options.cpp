#include "command_options.h"

#include "option_checks.h"

namespace ftvm {

void add_guest_options(CLI::App& command, GuestOptions& options) {
  command.add_option("GUEST", options.guest, "ELF64 guest kernel (default: the built-in testsvc)")
      ->check(CLI::ExistingFile);
  command.add_option("--mem", options.mem_mib, "Guest memory in MiB")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{4}, uint64_t{3072}));
  command.add_option("--kvm-device", options.kvm_device, "The KVM device node")
      ->capture_default_str();
  command
      .add_option("--accel", options.accel,
                  "What executes the guest: kvm, emu (the software CPU) or auto (KVM where "
                  "/dev/kvm is usable, else emu)")
      ->capture_default_str()
      ->check(CLI::IsMember({"kvm", "emu", "auto"}));
  add_disk_options(command, options.disk);
}

void add_console_options(CLI::App& command, ConsoleOptions& options) {
  command.add_option("--console", options.console_path,
                     "Write guest console output to FILE (default: stdout)");
  command.add_option("--stats-json", options.stats_json_path,
                     "Write statistics of the run as JSON to FILE");
}

void add_disk_options(CLI::App& command, DiskOptions& options) {
  command.add_option("--disk", options.source,
                     "Give the guest a virtio-blk disk: a raw image FILE (a multiple of 512 "
                     "bytes), an NBD URI (nbd://HOST:PORT/EXPORT, e.g. from ftvm disk-server "
                     "--export) or a libvirt storage volume (libvirt:POOL/VOLUME[?uri=URI], "
                     "default URI qemu:///system)");
  command.add_flag("--disk-read-only", options.read_only, "The guest may only read the disk");
}

void add_net_options(CLI::App& command, NetOptions& options) {
  command.add_option("--net", options.spec,
                     "Give the guest a virtio-net card: on the host's TAP device NAME (tap:NAME; "
                     "scripts/lab makes a test network with tap0 and tap1), or on a libvirt "
                     "network (libvirt:NETWORK[,filter=NWFILTER][,uri=URI]: a port reserved for "
                     "this VM, a TAP of its own, released when the VM ends)");
  command.add_option("--mac", options.mac, "The card's MAC address")->capture_default_str();
}

void add_follow_accel_option(CLI::App& command, std::string& accel) {
  command
      .add_option("--accel", accel,
                  "The vCPU backend: auto takes the one the log was made on; kvm or emu must be "
                  "that one")
      ->capture_default_str()
      ->check(CLI::IsMember({"kvm", "emu", "auto"}));
}

void add_interrupt_window_option(CLI::App& command, std::string& choice) {
  command
      .add_option("--interrupt-window", choice,
                  "Deliver an interrupt the guest cannot take at once at KVM's interrupt-window "
                  "exit: auto where the host probe found that exit exact (ftvm host-info), off "
                  "never (it then waits for the next exit or a logged landmark)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "off"}));
}

void add_pair_side_options(CLI::App& command, PairSideOptions& options) {
  command.add_option("--vm-id", options.vm_id, "The protected VM's name at the arbiter")
      ->capture_default_str();
  command
      .add_option("--generation", options.generation,
                  "The pair's incarnation at the arbiter (a new pair of the same VM takes a "
                  "higher one)")
      ->capture_default_str();
  command
      .add_option("--arbiter", options.arbiter,
                  "The arbiter: the disk server's test-and-set (HOST:PORT), or an etcd cluster "
                  "(etcd://HOST:PORT[,HOST:PORT...])")
      ->capture_default_str();
  command.add_option("--key-file", options.key_file,
                     "Pre-shared key authenticating the logging channel (HMAC-SHA256); without "
                     "one the channel is loopback only");
  command.add_option("--control", options.control_path,
                     "Unix socket answering `ftvm status` (and fault injection)");
  command.add_option("--heartbeat-ms", options.heartbeat_ms, "Heartbeat period on a quiet channel")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 10000.0));
  command
      .add_option("--suspect-ms", options.suspect_ms, "Silence after which the peer is suspected")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 60000.0));
  command
      .add_option("--declare-ms", options.declare_ms,
                  "Silence after which the peer is declared lost and this side acts")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 600000.0));
  command
      .add_option("--arbiter-timeout", options.arbiter_timeout_s,
                  "Seconds to keep trying an unreachable arbiter before halting")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  command.add_flag("--fence-disk", options.fence_disk,
                   "Name this process to the disk server with its NBD --disk, so that the disk "
                   "server refuses its writes once the arbiter has decided for another process "
                   "(needs the disk served by the arbiter's own ftvm disk-server)");
}

void add_input_options(CLI::App& command, std::string& input_path, std::optional<double>& seconds) {
  command.add_option("--input", input_path, "Feed FILE to the guest console (default: stdin)")
      ->check(CLI::ExistingFile);
  command
      .add_option("--seconds", seconds,
                  "Stop the VM after N seconds (default: run until the guest shuts down)")
      ->check(positive_seconds());
}

}  // namespace ftvm
