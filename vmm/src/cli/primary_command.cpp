#include "primary_command.h"

#include "command_options.h"
#include "option_checks.h"

namespace ftvm {

CLI::App* add_primary_command(CLI::App& app, PrimaryOptions& options) {
  auto* primary = app.add_subcommand(
      "primary", "Run a VM as the primary of a protected pair, logging to its backup");
  add_guest_options(*primary, options.guest);
  add_console_options(*primary, options.console);
  add_input_options(*primary, options.input_path, options.seconds);
  add_pair_side_options(*primary, options.pair);
  add_net_options(*primary, options.net);
  primary->add_option("--listen", options.listen, "Where the backup connects (HOST:PORT)")
      ->capture_default_str();
  primary->add_option("--listen-fd", options.listen_fd,
                      "Accept the backup on this inherited listening socket instead");
  primary
      ->add_option("--wait-backup", options.wait_backup_s,
                   "Seconds to wait for the backup to connect")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 86400.0));
  primary
      ->add_option("--max-delay", options.max_delay_ms,
                   std::string("How long (ms) an event may wait for the guest's next exit ") +
                       kMaxDelayDefaultText)
      ->check(CLI::Range(0.0, 1000.0));
  primary
      ->add_option("--async", options.async_mode,
                   "Asynchronous landmarks: auto, breakpoint, checkpoint")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "breakpoint", "checkpoint"}));
  add_interrupt_window_option(*primary, options.interrupt_window);
  primary
      ->add_option("--max-lag", options.max_lag_ms,
                   "Lag (ms) of the backup beyond which the guest is slowed down")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 60000.0));
  return primary;
}

}  // namespace ftvm
