#include "pair/state_sender.h"

#include <algorithm>

#include "logging_channel/message_codec.h"
#include "pair/state_pages.h"
#include "vmm/vcpu_state.h"

namespace ftvm {
namespace {

using Clock = std::chrono::steady_clock;

// A state-pages message's payload size (message_codec.h's layout): round, run count, 12 bytes
// a run, the frame's length and bytes.
uint64_t payload_bytes(const channel::StatePages& message) {
  return 4 + 4 + 12 * message.runs.size() + 4 + message.compressed.size();
}

// Sends `pages` (ascending) as round `round`, a message per kMaxStatePagesPerMessage pages, and
// one without pages for a round that has none: the receiver counts the rounds it got (a
// stopped round with nothing dirty once made it count one short).
Result<void> send_round(const GuestMemory& memory, uint32_t round, std::span<const uint64_t> pages,
                        const SendStateMessage& send, PagePacker& packer, TransferReport& report) {
  for (size_t at = 0; at == 0 || at < pages.size(); at += channel::kMaxStatePagesPerMessage) {
    const size_t count = std::min(channel::kMaxStatePagesPerMessage, pages.size() - at);
    channel::StatePages message = packer.pack(memory, round, pages.subspan(at, count));
    report.payload_bytes += payload_bytes(message);
    if (auto r = send(channel::Message(std::move(message))); !r) return r;
  }
  report.pages_sent += pages.size();
  return {};
}

std::vector<uint64_t> every_page(const GuestMemory& memory) {
  std::vector<uint64_t> pages(memory.size() / channel::kTransferPageBytes);
  for (size_t i = 0; i < pages.size(); ++i) pages[i] = i * channel::kTransferPageBytes;
  return pages;
}

// Pre-copy rounds while the guest runs; returns the dirty pages left when the policy stops.
Result<std::vector<uint64_t>> precopy(const GuestMemory& memory, TransferPort& port,
                                      const SendStateMessage& send,
                                      const StateSenderOptions& options, PagePacker& packer,
                                      TransferReport& report) {
  if (auto started = port.take_dirty_pages(); !started) return started.error();
  std::vector<uint64_t> pages = every_page(memory);
  report.guest_pages = pages.size();
  for (uint32_t round = 0;; ++round) {
    const auto began = Clock::now();
    if (auto r = send_round(memory, round, pages, send, packer, report); !r) return r.error();
    auto dirty = port.take_dirty_pages();
    if (!dirty) return dirty.error();
    const PrecopyRound done{round, pages.size(), Clock::now() - began, dirty->size()};
    report.rounds.push_back(done);
    const PrecopyDecision next = decide_precopy(options.precopy, done, port.throttle());
    port.set_throttle(next.throttle);
    report.max_throttle = std::max(report.max_throttle, next.throttle);
    pages = std::move(*dirty);
    if (next.stop_and_copy) return pages;
  }
}

Result<void> send_stopped(const GuestMemory& memory, StoppedMachine& stopped,
                          const std::vector<uint64_t>& left, const SendStateMessage& send,
                          const StateSenderOptions& options, PagePacker& packer,
                          TransferReport& report) {
  const auto began = Clock::now();
  const auto last = union_of_pages(left, stopped.dirty_pages);
  const auto round = static_cast<uint32_t>(report.rounds.size());
  if (auto r = send_round(memory, round, last, send, packer, report); !r) return r;
  report.rounds.push_back({round, last.size(), Clock::now() - began, 0});
  channel::StateDone done{round + 1,
                          stopped.at.exit_count,
                          stopped.at.if_flag,
                          stopped.at.ready_for_interrupt_injection,
                          stopped.console_input,
                          encode_state(stopped.state)};
  done.virtio = std::move(stopped.virtio);
  // A disk with more write data in flight than a message carries: this transfer fails, a later
  // one may find less.
  if (auto bounds = channel::check_bounds(done); !bounds) {
    return make_error("state transfer: " + bounds.error().message);
  }
  if (options.before_done) {
    if (auto r = options.before_done(done); !r) return r;
  }
  report.payload_bytes += encode_payload(done).size();
  return send(done);
}

}  // namespace

Result<TransferReport> send_state(
    const GuestMemory& memory, TransferPort& port, const SendStateMessage& send,
    const StateSenderOptions& options,
    const std::function<Result<void>(uint64_t exit_count)>& while_stopped) {
  const auto began = Clock::now();
  TransferReport report;
  PagePacker packer(options.zstd_level);
  auto left = precopy(memory, port, send, options, packer, report);
  if (!left) {
    port.set_throttle(0);
    port.finish();
    return left.error();
  }
  auto stopped = port.stop();
  port.set_throttle(0);
  port.finish();
  if (!stopped) return stopped.error();
  const auto stopped_at = Clock::now();
  report.exit_count = stopped->at.exit_count;
  auto sent = send_stopped(memory, *stopped, *left, send, options, packer, report);
  if (sent && while_stopped) sent = while_stopped(stopped->at.exit_count);
  report.paused = Clock::now() - stopped_at;
  port.resume();
  report.took = Clock::now() - began;
  if (!sent) return sent.error();
  return report;
}

}  // namespace ftvm
