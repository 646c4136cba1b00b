#include "kernel/journal.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace testsvc::kernel {
namespace {

// Independent reference: FNV-1a 64 over a byte string.
uint64_t Fnv1a(const std::vector<uint8_t>& bytes) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (uint8_t b : bytes) {
    hash ^= b;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

void PutLe64(std::vector<uint8_t>& bytes, uint64_t value) {
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

// The documented serialization: tick (LE 8), progress (LE 8), cause (1) per entry.
uint64_t ReferenceDigest(const std::vector<JournalEntry>& entries) {
  std::vector<uint8_t> bytes;
  for (const JournalEntry& e : entries) {
    PutLe64(bytes, e.tick);
    PutLe64(bytes, e.progress);
    bytes.push_back(e.cause);
  }
  return Fnv1a(bytes);
}

TEST(TestsvcFnv, MatchesPublishedTestVectors) {
  EXPECT_EQ(FnvFoldByte(kFnvOffsetBasis, 'a'), 0xaf63dc4c8601ec8cull);
  uint64_t foobar = kFnvOffsetBasis;
  for (char c : std::string("foobar")) foobar = FnvFoldByte(foobar, static_cast<uint8_t>(c));
  EXPECT_EQ(foobar, 0x85944171f73967e8ull);
}

TEST(TestsvcJournal, EmptyDigestIsOffsetBasis) {
  Journal<4> journal;
  EXPECT_EQ(journal.count(), 0u);
  EXPECT_EQ(journal.digest(), kFnvOffsetBasis);
}

TEST(TestsvcJournal, DigestMatchesReferenceSerialization) {
  const std::vector<JournalEntry> entries = {
      {1, 311, 0}, {2, 622, 0}, {2, 700, 4}, {3, 0xffffffffffffffffull, 0}, {1u << 20, 42, 4}};
  Journal<4> journal;  // smaller than the entry count: the digest still covers all of them
  for (const JournalEntry& e : entries) journal.Record(e);
  EXPECT_EQ(journal.count(), entries.size());
  EXPECT_EQ(journal.digest(), ReferenceDigest(entries));
}

TEST(TestsvcJournal, DigestSeesAOneStepDifference) {
  Journal<8> a;
  Journal<8> b;
  a.Record({1, 1000, 0});
  b.Record({1, 1001, 0});
  EXPECT_NE(a.digest(), b.digest());
}

TEST(TestsvcJournal, DigestDependsOnOrderAndCause) {
  Journal<8> ab;
  Journal<8> ba;
  ab.Record({1, 10, 0});
  ab.Record({2, 20, 0});
  ba.Record({2, 20, 0});
  ba.Record({1, 10, 0});
  EXPECT_NE(ab.digest(), ba.digest());

  Journal<8> timer;
  Journal<8> uart;
  timer.Record({1, 10, 0});
  uart.Record({1, 10, 4});
  EXPECT_NE(timer.digest(), uart.digest());
}

TEST(TestsvcJournal, RingKeepsTheLastEntries) {
  Journal<4> journal;
  for (uint64_t i = 0; i < 10; ++i) journal.Record({i, i * 100, 0});
  JournalEntry entry{};
  EXPECT_FALSE(journal.Get(5, &entry));  // overwritten
  ASSERT_TRUE(journal.Get(6, &entry));
  EXPECT_EQ(entry.tick, 6u);
  EXPECT_EQ(entry.progress, 600u);
  ASSERT_TRUE(journal.Get(9, &entry));
  EXPECT_EQ(entry.tick, 9u);
  EXPECT_FALSE(journal.Get(10, &entry));  // not yet recorded
}

TEST(TestsvcJournal, IsConstantInitializable) {
  // The kernel's instance is constinit: no constructor runs in the guest.
  static constinit Journal<16> journal;
  EXPECT_EQ(journal.digest(), kFnvOffsetBasis);
}

}  // namespace
}  // namespace testsvc::kernel
