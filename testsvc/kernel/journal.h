// The preemption journal: where the compute thread was when each interrupt landed on it.
//
// Pure and header-only (host unit tests recompute the digest). The digest is FNV-1a 64 over
// every entry ever recorded, each entry contributing 17 bytes: tick (8 bytes, little endian),
// progress (8 bytes, little endian), cause (1 byte, the IRQ number). With no entries it is the
// FNV offset basis. Because `progress` depends on the exact instruction an interrupt landed
// on, a replay that delivers any interrupt one instruction early or late changes the digest.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace testsvc::kernel {

struct JournalEntry {
  uint64_t tick;      // timer ticks so far (including this one, for a timer interrupt)
  uint64_t progress;  // the compute thread's progress counter when interrupted
  uint8_t cause;      // IRQ number that interrupted it
};

inline constexpr uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ull;
inline constexpr uint64_t kFnvPrime = 0x100000001b3ull;

constexpr uint64_t FnvFoldByte(uint64_t hash, uint8_t byte) {
  return (hash ^ byte) * kFnvPrime;
}

constexpr uint64_t FnvFoldU64(uint64_t hash, uint64_t value) {
  for (int i = 0; i < 8; ++i) hash = FnvFoldByte(hash, static_cast<uint8_t>(value >> (8 * i)));
  return hash;
}

constexpr uint64_t JournalDigestStep(uint64_t digest, const JournalEntry& entry) {
  digest = FnvFoldU64(digest, entry.tick);
  digest = FnvFoldU64(digest, entry.progress);
  return FnvFoldByte(digest, entry.cause);
}

// Keeps the last Capacity entries in a ring, plus the total count and the digest of all.
template <size_t Capacity>
class Journal {
  static_assert(Capacity > 0 && (Capacity & (Capacity - 1)) == 0, "power of two");

 public:
  constexpr Journal() = default;

  constexpr void Record(const JournalEntry& entry) {
    entries_[count_ % Capacity] = entry;
    ++count_;
    digest_ = JournalDigestStep(digest_, entry);
  }

  // Entry number `index` (0 = the first ever recorded), if it is still held.
  constexpr bool Get(uint64_t index, JournalEntry* out) const {
    if (index >= count_ || count_ - index > Capacity) return false;
    *out = entries_[index % Capacity];
    return true;
  }

  constexpr uint64_t count() const { return count_; }
  constexpr uint64_t digest() const { return digest_; }

 private:
  JournalEntry entries_[Capacity] = {};
  uint64_t count_ = 0;
  uint64_t digest_ = kFnvOffsetBasis;
};

// The kernel's journal (journal.cpp; guest only). Interrupts must be disabled for Record*;
// the getters take care of it themselves.
namespace journal {

// Records that IRQ `irq` landed on the compute thread at `tick` with `progress`.
void RecordInterrupt(uint64_t tick, uint64_t progress, uint8_t irq);

uint64_t Count();
uint64_t Digest();

}  // namespace journal
}  // namespace testsvc::kernel
