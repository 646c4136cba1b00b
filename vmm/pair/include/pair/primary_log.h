// The primary's log as its vCPU thread sees it: the link to the backup that protects the guest
// now. A backup that joins the running guest gets a link of its own, switched in while the
// state transfer holds the guest stopped (docs/failover.md, "Re-protection"), so the
// recorder, the recorded clock and the driver go on writing to whichever backup that is.
#pragma once

#include <atomic>

#include "logging_channel/primary_link.h"
#include "replay/entry_sink.h"

namespace ftvm {

class PrimaryLog final : public replay::EntrySink {
 public:
  explicit PrimaryLog(channel::PrimaryLink& first) : current_(&first) {}

  Result<void> append(const replay::TraceEntry& entry) override {
    if (const auto* input = std::get_if<replay::ConsoleInputEntry>(&entry)) {
      console_input_logged_ += input->bytes.size();
    }
    if (const auto* digest = std::get_if<replay::OutputDigestEntry>(&entry);
        digest != nullptr && corrupt_next_output_digest_.exchange(false)) {
      replay::OutputDigestEntry altered = *digest;
      altered.digest ^= 1;
      return current().append(altered);
    }
    return current().append(entry);
  }
  // Fault injection (any thread): the next output digest goes to the backup with a bit flipped,
  // so that the backup's replay reports a divergence there (docs/failover.md, "Resync"). (One
  // altered input need not be seen: a clock read a day off was replayed to identical RAM.)
  void corrupt_next_output_digest() { corrupt_next_output_digest_.store(true); }
  // vCPU thread (or with the guest stopped): console input logged so far, to any backup.
  uint64_t console_input_logged() const { return console_input_logged_; }
  // Any thread: the link of the backup that protects the guest now (or was the latest to).
  channel::PrimaryLink& current() const { return *current_.load(); }
  // With the guest stopped, so that no entry is being appended: the next entries go to
  // `next`, whose log starts where this one's ends.
  void switch_to(channel::PrimaryLink& next) {
    next.begin_log_at(current().next_lsn());
    current_.store(&next);
  }

 private:
  std::atomic<channel::PrimaryLink*> current_;
  uint64_t console_input_logged_ = 0;
  std::atomic<bool> corrupt_next_output_digest_{false};
};

}  // namespace ftvm
