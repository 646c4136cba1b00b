#include "pair/state_receiver.h"

#include <fmt/format.h>

#include "pair/state_pages.h"
#include "vmm/vcpu_state.h"

namespace ftvm {

Result<bool> StateReceiver::apply(const channel::Message& message) {
  if (complete_) {
    return make_error(fmt::format("state transfer: a {} message after the state was complete",
                                  channel::message_name(message)));
  }
  if (const auto* pages = std::get_if<channel::StatePages>(&message)) {
    if (auto r = apply_pages(*pages); !r) return r.error();
    return false;
  }
  if (const auto* done = std::get_if<channel::StateDone>(&message)) {
    if (auto r = apply_done(*done); !r) return r.error();
    return true;
  }
  return make_error(fmt::format("state transfer: a {} message in the middle of the transfer",
                                channel::message_name(message)));
}

Result<void> StateReceiver::apply_pages(const channel::StatePages& message) {
  if (!any_pages_ && message.round != 0) {
    return make_error(
        fmt::format("state transfer: the first pages are of round {}, not 0", message.round));
  }
  if (any_pages_ && message.round != round_ && message.round != round_ + 1) {
    return make_error(
        fmt::format("state transfer: round {} after round {}", message.round, round_));
  }
  auto written = unpacker_.unpack(vm_.memory(), message);
  if (!written) return written.error();
  any_pages_ = true;
  round_ = message.round;
  pages_ += *written;
  return {};
}

Result<void> StateReceiver::apply_done(const channel::StateDone& message) {
  if (!any_pages_ || message.rounds != round_ + 1) {
    return make_error(
        fmt::format("state transfer: the sender counts {} rounds of pages, {} arrived",
                    message.rounds, any_pages_ ? round_ + 1 : 0));
  }
  auto state = decode_state(message.machine_state);
  if (!state) return make_error("state transfer: the machine state: " + state.error().message);
  if (!state->page_gpas.empty()) {
    return make_error("state transfer: the machine state carries pages; they come in rounds");
  }
  if (auto r = load_state(*state, vm_.vcpu(), vm_.platform(), vm_.memory()); !r) {
    return make_error("state transfer: loading the machine state: " + r.error().message);
  }
  if (auto r = vm_.platform().load_virtio(message.virtio); !r) {
    return make_error("state transfer: the virtio devices: " + r.error().message);
  }
  if (message.virtio.disk) unfinished_disk_requests_ = message.virtio.disk->unfinished;
  rounds_ = message.rounds;
  vm_.platform().restore_pending_input(message.console_input);
  console_input_bytes_ = message.console_input.size();
  first_lsn_ = message.first_lsn;
  output_bytes_ = message.output_bytes;
  clock_monotonic_ns_ = message.clock_monotonic_ns;
  clock_realtime_ns_ = message.clock_realtime_ns;
  console_input_logged_ = message.console_input_logged;
  resume_point_ = {message.exit_count, message.if_flag, message.ready_for_interrupt_injection};
  complete_ = true;
  return {};
}

}  // namespace ftvm
