#include "backup_command.h"

#include "command_options.h"
#include "option_checks.h"

namespace ftvm {

CLI::App* add_backup_command(CLI::App& app, BackupOptions& options) {
  auto* backup = app.add_subcommand(
      "backup",
      "Run the backup of a protected pair: replay the primary's log, take over if it dies");
  add_console_options(*backup, options.console);
  add_pair_side_options(*backup, options.pair);
  backup->add_option("--connect", options.connect, "The primary's channel address (HOST:PORT)")
      ->capture_default_str();
  backup
      ->add_option("--join", options.join,
                   "Join a running primary that lost its backup (HOST:PORT of its channel): "
                   "receive its guest by live state transfer, then replay as its backup under "
                   "the next generation")
      ->excludes(backup->get_option("--connect"))
      ->excludes(backup->get_option("--generation"));
  backup
      ->add_option("--connect-timeout", options.connect_timeout_s,
                   "Seconds to keep trying to reach the primary")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 86400.0));
  backup->add_option("--input", options.input_path, "Console input once live (default: stdin)");
  backup
      ->add_option("--max-delay", options.max_delay_ms,
                   std::string("Once live: how long (ms) an event may wait for the guest's next "
                               "exit ") +
                       kMaxDelayDefaultText)
      ->check(CLI::Range(0.0, 1000.0));
  backup->add_option("--listen", options.listen,
                     "Once live: where new backups join it (HOST:PORT; ftvm backup --join). "
                     "Without it (or --listen-fd), a backup that went live runs on unprotected");
  backup
      ->add_option("--listen-fd", options.listen_fd,
                   "Once live: accept joining backups on this inherited listening socket")
      ->excludes(backup->get_option("--listen"))
      ->check(CLI::NonNegativeNumber);
  backup
      ->add_option("--max-lag", options.max_lag_ms,
                   "Once live and joined by a backup: how far (ms) that backup may lag before "
                   "the guest is slowed")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 60000.0));
  backup->add_option("--divergence-report", options.divergence_report_path,
                     "Also write a divergence report to FILE (it always goes to stderr; later "
                     "ones are added after the first)");
  backup->add_flag("!--no-resync", options.resync,
                   "Exit 5 on a divergence instead of joining the primary again for a fresh "
                   "copy of its guest");
  backup->add_option("--kvm-device", options.kvm_device, "The KVM device node")
      ->capture_default_str();
  add_follow_accel_option(*backup, options.accel);
  add_disk_options(*backup, options.disk);
  backup->add_option("--net", options.net.spec,
                     "The TAP device (tap:NAME) or libvirt network (libvirt:NETWORK[,...]) of the "
                     "primary's network, used once live (the "
                     "guest's MAC comes from the primary)");
  return backup;
}

}  // namespace ftvm
