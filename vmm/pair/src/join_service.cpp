#include "pair/join_service.h"

#include <fmt/format.h>

#include "logging_channel/tcp.h"
#include "pair/pair_side.h"
#include "pair/state_sender.h"

namespace ftvm {

JoinService::JoinService(int listener, Protection& protection, JoinParts parts)
    : protection_(protection),
      parts_(std::move(parts)),
      thread_([this, listener] { accept_loop(listener); }) {}

JoinService::~JoinService() {
  quit_.store(true);
  if (thread_.joinable()) thread_.join();
}

void JoinService::stop() {
  quit_.store(true);
  parts_.port.close("the guest is stopping");
  if (thread_.joinable()) thread_.join();
}

void JoinService::accept_loop(int listener) {
  while (!quit_.load()) {
    auto socket = channel::accept_tcp(listener, std::chrono::milliseconds(200));
    if (socket && !quit_.load()) join(std::move(*socket));
  }
}

// With the guest stopped where the new backup starts: from here on the guest's log goes to
// `link`, its output digests cover what it says from here, and its output waits for that
// backup's acks again.
Result<void> JoinService::hand_over(channel::PrimaryLink& link, uint64_t generation,
                                    channel::StateDone& done) {
  GuardedOutputs& outputs = protection_.outputs();
  // Produced before the stop, while unprotected: it leaves as it would have.
  if (auto bytes = parts_.pending.take(); !bytes.empty()) outputs.gate.hold(bytes, 0);
  outputs.log.switch_to(link);
  done.first_lsn = link.next_lsn();
  done.console_input_logged = outputs.log.console_input_logged();
  done.output_bytes = parts_.digesting.bytes();
  parts_.digesting.restart_digest(done.output_bytes);
  done.clock_monotonic_ns = static_cast<uint64_t>(parts_.last_clock(replay::ClockKind::kMonotonic));
  done.clock_realtime_ns = parts_.last_clock(replay::ClockKind::kRealtime);
  outputs.gate.protect_again(done.first_lsn);
  for (channel::HeldOutput* held : outputs.held) held->protect_again(done.first_lsn);
  outputs.lag.backup_at(done.exit_count, std::chrono::steady_clock::now());
  protection_.take_generation(generation);
  return {};
}

// After the handover the new backup is this side's backup, so losing it is losing the backup:
// the arbiter decides (under the new generation) whether the guest runs on.
void JoinService::lose_joined(channel::PrimaryLink& link, const std::string& reason) {
  link.abandon(reason);
  protection_.backup_lost(reason);
}

void JoinService::join(UniqueFd socket) {
  GuardedOutputs& outputs = protection_.outputs();
  const char* side = protection_.side();
  auto& link = *links_.emplace_back(std::make_unique<channel::PrimaryLink>(
      std::move(socket), parts_.key, outputs.gate, outputs.lag, parts_.link_options));
  const uint64_t generation = protection_.generation() + 1;
  channel::Hello hello = parts_.hello;
  hello.generation = generation;
  hello.state_follows = true;
  if (auto r = link.send_hello(hello); !r) {
    log_role(side, "a backup tried to join: " + r.error().message);
    return forget_last_link();
  }
  auto refusal = protection_.join_refusal(generation);
  if (refusal || !protection_.begin_join()) {
    const std::string why = refusal.value_or("this primary's role changed");
    (void)link.send_state(channel::Goodbye{why});
    log_role(side, "refused a joining backup: " + why);
    return forget_last_link();
  }
  log_role(side, fmt::format("a backup is joining as generation {}: waiting for it to build the "
                             "VM",
                             generation));
  // Its first ack: it built the VM and reads the state now. Only then may the transfer end with
  // the guest's output waiting for its acks.
  if (auto ready = link.await_backup_ready(parts_.wait_ready); !ready) {
    protection_.join_failed();
    log_role(side, "the joining backup did not get ready (" + ready.error().message +
                       "); running on, unprotected");
    return forget_last_link();
  }
  log_role(side, "sending the joining backup the running guest");
  bool switched = false;
  StateSenderOptions options;
  options.before_done = [&](channel::StateDone& done) {
    switched = true;
    return hand_over(link, generation, done);
  };
  protection_.set_guest_pages(parts_.memory.size() / channel::kTransferPageBytes);
  auto send = [this, &link](const channel::Message& message) {
    if (const auto* pages = std::get_if<channel::StatePages>(&message)) {
      uint64_t count = 0;
      for (const channel::PageRun& run : pages->runs) count += run.pages;
      protection_.transfer_progress(pages->round, count);
    }
    return link.send_state(message);
  };
  auto report = send_state(parts_.memory, parts_.port, send, options);
  if (!report && !switched) {
    (void)link.send_state(channel::Goodbye{"the state transfer failed: " + report.error().message});
    protection_.join_failed();
    log_role(side, "the state transfer to the joining backup failed (" + report.error().message +
                       "); running on, unprotected");
    return forget_last_link();
  }
  if (!report) return lose_joined(link, report.error().message);
  if (auto ready = link.await_backup_ready(parts_.wait_ready); !ready) {
    return lose_joined(link, ready.error().message);
  }
  link.start([this](const std::string& reason) { protection_.backup_lost(reason); });
  protection_.joined();
  log_role(
      side,
      fmt::format("backup joined at exit {}: {} pages in {} rounds, {:.1f} ms, the guest "
                  "paused {:.2f} ms; running, protected (generation {})",
                  report->exit_count, report->pages_sent, report->rounds.size(),
                  std::chrono::duration<double, std::milli>(report->took).count(),
                  std::chrono::duration<double, std::milli>(report->paused).count(), generation));
}

}  // namespace ftvm
