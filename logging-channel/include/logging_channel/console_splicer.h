// Joins the console streams of a pair into the one stream a client sees: the primary's
// released output, then, after a failover, the backup's from the offset where it resumed. The
// backup re-emits from the last offset the primary said it had released, so its first bytes
// may repeat what the client already saw: the splicer drops that overlap after checking it is
// byte-for-byte what was shown (replay makes it so; a difference is a divergence), and notes a
// gap if the backup resumed beyond what was shown (output lost: the output rule was broken).
//
// Once the backup is live nothing more from the primary is shown: the caller first shows what
// the primary had written until then (everything up to the backup's resume offset is among it,
// because the primary reports bytes as released only after they were written), then cuts the
// primary off.
//
// A backup that went live becomes the primary of the next pair (promote_backup()): its stream
// goes on where it was, and the next backup to go live resumes in the same stream's offsets,
// as many times in a row as failovers come.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ftvm::channel {

class ConsoleSplicer {
 public:
  // Bytes from the primary; returns the part to show: all of it until primary_cut_off(),
  // none after (counted in withheld_from_primary()).
  std::vector<uint8_t> from_primary(std::span<const uint8_t> bytes);
  // The backup is live: the primary may not speak any more.
  void primary_cut_off();
  // The backup's stream starts at this offset of the guest's console stream.
  void backup_resumes_at(uint64_t offset);
  // Where the backup's stream starts could not be learnt: it is taken to start where the shown
  // stream ends, and any overlap it re-emits is shown again, unchecked (overlap_checked()).
  void backup_resumes_unknown();
  // Bytes from the backup (after backup_resumes_at or backup_resumes_unknown; without either,
  // as after backup_resumes_unknown); returns the part not shown before.
  std::vector<uint8_t> from_backup(std::span<const uint8_t> bytes);
  // The live backup is the primary now (the old one's stream ended): from_primary() takes its
  // stream from where from_backup() left it, overlap still checked; a new backup may resume.
  void promote_backup();

  uint64_t shown() const { return shown_; }
  // Overlap bytes compared and dropped so far.
  uint64_t overlap() const { return overlap_; }
  // Bytes the backup resumed beyond what was shown: lost output.
  uint64_t gap() const { return gap_; }
  // Set at the first overlap byte that differs from what was shown.
  const std::optional<std::string>& mismatch() const { return mismatch_; }
  // False once the backup's resume offset was unknown: then the cutover was not checked.
  bool overlap_checked() const { return overlap_checked_; }
  // Bytes the primary wrote after it was cut off, not shown.
  uint64_t withheld_from_primary() const { return withheld_from_primary_; }

 private:
  // Enough to check any overlap a backup re-emits; older bytes are dropped unchecked.
  static constexpr size_t kMaxHistory = size_t{16} << 20;

  // Shows the bytes of a stream whose next byte is at `offset`: those below shown_ are an
  // overlap, checked and dropped.
  std::vector<uint8_t> splice(uint64_t& offset, std::span<const uint8_t> bytes);
  void remember(std::span<const uint8_t> shown);

  std::deque<uint8_t> history_;  // shown bytes from history_base_ to shown_
  // Stream offset of the primary's next byte: none for the first primary, whose stream is
  // what was shown; a promoted backup's may still be in its overlap.
  std::optional<uint64_t> primary_offset_;
  uint64_t history_base_ = 0;
  uint64_t shown_ = 0;
  std::optional<uint64_t> backup_offset_;  // stream offset of the next backup byte
  uint64_t overlap_ = 0;
  uint64_t gap_ = 0;
  std::optional<std::string> mismatch_;
  bool primary_cut_off_ = false;
  bool overlap_checked_ = true;
  uint64_t withheld_from_primary_ = 0;
};

}  // namespace ftvm::channel
