#include "pair_command.h"

#include "command_options.h"
#include "option_checks.h"

namespace ftvm {

CLI::App* add_pair_command(CLI::App& app, PairOptions& options) {
  auto* pair = app.add_subcommand(
      "pair", "Run a protected pair on this machine: arbiter, primary and backup, with status");
  add_guest_options(*pair, options.guest);
  pair->add_option("--input", options.input_path, "Feed FILE to the guest console (default: stdin)")
      ->check(CLI::ExistingFile);
  pair->add_option("--seconds", options.seconds, "Stop the pair after N seconds")
      ->check(positive_seconds());
  pair->add_option("--kill-primary-after", options.kill_primary_after,
                   "Fault injection: SIGKILL the primary after N seconds")
      ->check(positive_seconds());
  pair->add_option("--kill-backup-after", options.kill_backup_after,
                   "Fault injection: SIGKILL the backup after N seconds")
      ->check(positive_seconds());
  pair->add_option(
          "--kill-backup-every", options.kill_backup_every,
          "Fault loop: SIGKILL each backup N seconds after it started (or joined); the pair "
          "re-protects the primary with a new one each time")
      ->check(positive_seconds())
      ->excludes("--kill-backup-after");
  pair->add_option("--kill-primary-every", options.kill_primary_every,
                   "Fault loop: SIGKILL the primary once it has been protected N seconds (its "
                   "backup replaying); the backup takes over and the pair re-protects it with a "
                   "new one")
      ->check(positive_seconds())
      ->excludes("--kill-primary-after");
  pair->add_option("--corrupt-log-after", options.corrupt_log_after,
                   "Fault injection: alter an output digest in the log after N seconds; the backup "
                   "diverges, and a new one joins the primary (resync)")
      ->check(positive_seconds());
  pair->add_option("--cut-channel-after", options.cut_channel_after,
                   "Fault injection: cut the logging channel after N seconds (split brain)")
      ->check(positive_seconds());
  pair->add_option("--run-dir", options.run_dir,
                   "Directory for the arbiter's state and the control sockets (default: a new "
                   "one in /tmp)");
  pair->add_option("--stats-json", options.stats_json_path, "Write a summary as JSON to FILE");
  pair->add_option("--arbiter", options.arbiter,
                   "An etcd cluster as the arbiter (etcd://HOST:PORT[,HOST:PORT...], e.g. from "
                   "scripts/etcd-cluster up) instead of the pair's own disk server");
  pair->add_option("--net", options.net,
                   "Give the guest a virtio-net card: tap:PRIMARY_TAP,BACKUP_TAP, each side's TAP "
                   "device on one network (scripts/lab: tap:tap0,tap1), or "
                   "libvirt:NETWORK[,filter=NAME][,uri=URI], a port for each side on a libvirt "
                   "network")
      ->check([](const std::string& value) -> std::string {
        const auto nets = parse_side_nets(value);
        return nets ? "" : nets.error().message;
      });
  pair->add_option("--mac", options.mac, "The card's MAC address")->capture_default_str();
  pair->add_option("--max-lag", options.max_lag_ms, "See ftvm primary --max-lag")
      ->capture_default_str();
  pair->add_option("--async", options.async_mode, "See ftvm primary --async")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "breakpoint", "checkpoint"}));
  pair->add_option("--suspect-ms", options.suspect_ms, "See ftvm primary --suspect-ms")
      ->capture_default_str();
  pair->add_option("--declare-ms", options.declare_ms, "See ftvm primary --declare-ms")
      ->capture_default_str();
  pair->add_option("--status-every", options.status_every_s, "Seconds between status lines")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  return pair;
}

}  // namespace ftvm
