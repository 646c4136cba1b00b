// The log of a guest that runs for the world, as its vCPU thread sees it: the link to the backup
// that protects the guest now, or none. A backup that joins the running guest gets a link of
// its own, switched in while the state transfer holds the guest stopped (docs/failover.md,
// "Re-protection"), so the recorder, the recorded clock and the driver go on writing to
// whichever backup that is. A backup that went live starts with no link: until one joins it,
// its entries protect nothing and are dropped (they still take LSNs, as on a lost link).
#pragma once

#include <atomic>

#include "logging_channel/primary_link.h"
#include "replay/entry_sink.h"

namespace ftvm {

class PrimaryLog final : public replay::EntrySink {
 public:
  // No backup yet (begin_at() says where the log starts).
  PrimaryLog() = default;
  explicit PrimaryLog(channel::PrimaryLink& first) : current_(&first) {}

  // Before any backup: the guest's log starts at `first_lsn`, and the guest had `console_input`
  // bytes of console input before (so that a joining backup counts input as the pair does).
  void begin_at(uint64_t first_lsn, uint64_t console_input) {
    unlinked_next_lsn_ = first_lsn;
    console_input_logged_ = console_input;
  }

  Result<void> append(const replay::TraceEntry& entry) override {
    if (const auto* input = std::get_if<replay::ConsoleInputEntry>(&entry)) {
      console_input_logged_ += input->bytes.size();
    }
    channel::PrimaryLink* link = current_.load();
    if (link == nullptr) {
      ++unlinked_next_lsn_;
      return {};
    }
    if (const auto* digest = std::get_if<replay::OutputDigestEntry>(&entry);
        digest != nullptr && corrupt_next_output_digest_.exchange(false)) {
      replay::OutputDigestEntry altered = *digest;
      altered.digest ^= 1;
      return link->append(altered);
    }
    return link->append(entry);
  }
  // Fault injection (any thread): the next output digest goes to the backup with a bit flipped,
  // so that the backup's replay reports a divergence there (docs/failover.md, "Resync"). (One
  // altered input need not be seen: a clock read a day off was replayed to identical RAM.)
  void corrupt_next_output_digest() { corrupt_next_output_digest_.store(true); }
  // vCPU thread (or with the guest stopped): console input logged so far, to any backup.
  uint64_t console_input_logged() const { return console_input_logged_; }
  // Any thread: the link of the backup that protects the guest now (or was the latest to);
  // null before any backup.
  channel::PrimaryLink* link() const { return current_.load(); }

  // vCPU thread: the link's, or the log's own count while there is no link.
  uint64_t next_lsn() const {
    channel::PrimaryLink* link = current_.load();
    return link != nullptr ? link->next_lsn() : unlinked_next_lsn_;
  }
  void set_exit_count(uint64_t exit_count) {
    if (channel::PrimaryLink* link = current_.load()) link->set_exit_count(exit_count);
  }
  void flush_now() {
    if (channel::PrimaryLink* link = current_.load()) link->flush_now();
  }
  // Whether no backup takes the log now (none yet, or the latest was lost).
  bool lost() const {
    channel::PrimaryLink* link = current_.load();
    return link == nullptr || link->lost();
  }
  uint64_t exit_count() const {
    channel::PrimaryLink* link = current_.load();
    return link != nullptr ? link->exit_count() : 0;
  }

  // With the guest stopped, so that no entry is being appended: the next entries go to
  // `next`, whose log starts where this one's ends.
  void switch_to(channel::PrimaryLink& next) {
    next.begin_log_at(next_lsn());
    current_.store(&next);
  }

 private:
  std::atomic<channel::PrimaryLink*> current_{nullptr};
  uint64_t unlinked_next_lsn_ = 0;
  uint64_t console_input_logged_ = 0;
  std::atomic<bool> corrupt_next_output_digest_{false};
};

}  // namespace ftvm
