// Console input of a pair, given to exactly one side and applied exactly once across a
// failover (docs/failover.md, "Input").
//
// Input goes to the primary while the pair is healthy, and is held while it is unclear which
// side will run the guest for the world: from the moment either side suspects the other (or
// the channel was cut, or the primary is gone) until the primary runs on or the backup is
// live. Holding alone is not enough: bytes the primary had been given just before (still in
// its pipe, waiting outside its guest, or logged but never received by the backup) die with
// it. So the router keeps every byte given to the primary until the backup's log shows it,
// and when the backup takes over, it gives the backup everything beyond what the backup's
// replay already applied from the log.
//
// Once live, that backup is the side the guest's input goes to, and it may get a backup of its
// own (docs/failover.md, "Re-protection after a failover"): the router counts input in one
// stream for the whole run, so the next takeover is handled as the first.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "vmm/result.h"

namespace ftvm {

// What the pair knows about its sides right now.
struct PairView {
  bool primary_gone = false;     // exited, or killed by the pair
  bool primary_runs_on = false;  // won the arbiter after losing its backup
  bool backup_live = false;
  bool suspicion = false;  // either side suspects or lost its peer, or the channel was cut
};

enum class InputTarget { kPrimary, kBackup, kHold };

InputTarget choose_input_target(const PairView& view);

class InputRouter {
 public:
  // The user typed these.
  void typed(std::span<const uint8_t> bytes);
  // The bytes waiting for a side, in order. Valid until the next call.
  std::vector<uint8_t> waiting() const;
  // `count` of the waiting bytes were written to the primary.
  void gave_primary(size_t count) { gave_live_side(count); }
  // `count` of the waiting bytes were written to the backup (once it is live).
  void gave_backup(size_t count) { gave_live_side(count); }
  // The backup's log holds the first `from_log` input bytes: they need not be kept for it.
  void backup_logged(uint64_t from_log);
  // The backup went live having applied the first `from_log` input bytes from the primary's
  // log: the rest of what the primary was given waits for the backup, ahead of what was
  // typed since. An error if the backup claims more than the primary was ever given. From
  // here the backup is the side given input, as the primary was.
  Result<void> backup_took_over(uint64_t from_log);

  // The input the guest has had, counted from the start of the run: what the side running it
  // now was given, and what it had from its primary's log before it took over.
  uint64_t given_to_primary() const { return given_; }
  uint64_t given_again() const { return given_again_; }
  size_t kept_bytes() const { return unlogged_.size(); }

 private:
  void gave_live_side(size_t count);

  std::deque<uint8_t> waiting_;
  // Given to the live side and not yet seen in its backup's log; starts at offset logged_.
  std::deque<uint8_t> unlogged_;
  uint64_t logged_ = 0;
  uint64_t given_ = 0;
  uint64_t given_again_ = 0;
};

}  // namespace ftvm
