#include "record_command.h"

#include "command_options.h"
#include "option_checks.h"

namespace ftvm {

CLI::App* add_record_command(CLI::App& app, RecordVmOptions& options) {
  auto* record = app.add_subcommand("record", "Run one VM and record every nondeterministic input");
  add_guest_options(*record, options.guest);
  add_net_options(*record, options.net);
  add_console_options(*record, options.console);
  add_input_options(*record, options.input_path, options.seconds);
  record->add_option("--trace", options.trace_dir, "Directory to write the trace to")->required();
  record->add_flag("--force", options.overwrite, "Replace an existing trace in that directory");
  record
      ->add_option("--max-delay", options.max_delay_ms,
                   std::string("How long (ms) an event may wait for the guest's next exit before "
                               "the vCPU is interrupted (an asynchronous landmark) ") +
                       kMaxDelayDefaultText)
      ->check(CLI::Range(0.0, 1000.0));
  record
      ->add_option("--async", options.async_mode,
                   "How asynchronous landmarks are found on replay: auto, breakpoint, checkpoint")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "breakpoint", "checkpoint"}));
  add_interrupt_window_option(*record, options.interrupt_window);
  record->add_option("--digest-ms", options.digest_ms, "Guest-RAM digest period (0: none)")
      ->capture_default_str();
  return record;
}

}  // namespace ftvm
