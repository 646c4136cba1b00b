#include "replay/memory_discriminator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace ftvm::replay {
namespace {

// A guest-virtual window [kBase, kBase + 4 KiB) of code and data; anything else is unmapped.
constexpr uint64_t kBase = 0x1000;

class FakeGuest {
 public:
  FakeGuest() : bytes_(4096, 0) {}

  void put(uint64_t gva, std::vector<uint8_t> code) {
    std::copy(code.begin(), code.end(), bytes_.begin() + static_cast<long>(gva - kBase));
  }
  void put_u64(uint64_t gva, uint64_t value) {
    std::memcpy(bytes_.data() + (gva - kBase), &value, sizeof(value));
  }

  GuestVirtualRead reader() const {
    return [this](uint64_t gva, std::span<uint8_t> out) {
      if (gva < kBase || gva + out.size() > kBase + bytes_.size()) return false;
      std::memcpy(out.data(), bytes_.data() + (gva - kBase), out.size());
      return true;
    };
  }

 private:
  std::vector<uint8_t> bytes_;
};

uint32_t digest_at(const FakeGuest& guest, kvm_regs regs) {
  MemoryDiscriminator discriminator;
  auto digest = discriminator.digest(regs, SegmentBases{}, guest.reader());
  EXPECT_TRUE(digest.ok()) << digest.error().message;
  return digest.ok() ? *digest : 0;
}

kvm_regs at(uint64_t rip) {
  kvm_regs regs{};
  regs.rip = rip;
  regs.rflags = 0x202;
  return regs;
}

// mem_loop's shape: `1: incq counter(%rip); jmp 1b`. Every register repeats; the counter does
// not.
FakeGuest counter_loop(uint64_t counter) {
  FakeGuest guest;
  guest.put(0x1000, {0x48, 0xff, 0x05, 0x10, 0x00, 0x00, 0x00});  // incq 0x10(%rip) -> 0x1017
  guest.put(0x1007, {0xeb, 0xf7});                                // jmp 0x1000
  guest.put_u64(0x1017, counter);
  return guest;
}

TEST(MemoryDiscriminatorTest, TellsApartIterationsWhoseRegistersRepeatButWhoseCounterMoves) {
  const uint32_t first = digest_at(counter_loop(5), at(0x1000));
  const uint32_t next = digest_at(counter_loop(6), at(0x1000));
  EXPECT_NE(first, 0u);
  EXPECT_NE(next, 0u);
  EXPECT_NE(first, next);
  EXPECT_EQ(digest_at(counter_loop(5), at(0x1000)), first) << "a function of registers and RAM";
}

TEST(MemoryDiscriminatorTest, FollowsADirectJumpToTheCodeThatTouchesMemory) {
  // Stopped at the jmp: the incq it jumps back to is what reads the counter.
  const uint32_t first = digest_at(counter_loop(5), at(0x1007));
  EXPECT_NE(first, 0u);
  EXPECT_NE(first, digest_at(counter_loop(6), at(0x1007)));
}

TEST(MemoryDiscriminatorTest, IsZeroWhereTheCodeAheadTouchesNoMemory) {
  FakeGuest guest;
  guest.put(0x1000, {0x48, 0x8d, 0x05, 0x10, 0x00, 0x00, 0x00});  // lea 0x10(%rip),%rax
  guest.put(0x1007, {0x48, 0x83, 0xc0, 0x01});                    // add $1,%rax
  guest.put(0x100b, {0xeb, 0xf3});                                // jmp 0x1000
  EXPECT_EQ(digest_at(guest, at(0x1000)), 0u);
}

TEST(MemoryDiscriminatorTest, DoesNotTrustARegisterTheCodeAheadWrites) {
  // `mov $0x1800,%ebx; incq (%rbx)`: the stop point's RBX says nothing about that address.
  FakeGuest guest;
  guest.put(0x1000, {0xbb, 0x00, 0x18, 0x00, 0x00});  // mov $0x1800,%ebx
  guest.put(0x1005, {0x48, 0xff, 0x03});              // incq (%rbx)
  guest.put(0x1008, {0xeb, 0xf6});                    // jmp 0x1000
  guest.put_u64(0x1800, 7);
  kvm_regs regs = at(0x1000);
  regs.rbx = 0x1800;
  EXPECT_EQ(digest_at(guest, regs), 0u);
}

TEST(MemoryDiscriminatorTest, StopsAtAConditionalBranch) {
  // `jne` first: which way it goes depends on what executes, so nothing past it is read.
  FakeGuest guest;
  guest.put(0x1000, {0x75, 0x05});                                // jne 0x1007
  guest.put(0x1002, {0x48, 0xff, 0x05, 0x10, 0x00, 0x00, 0x00});  // incq 0x10(%rip)
  guest.put_u64(0x1019, 1);
  EXPECT_EQ(digest_at(guest, at(0x1000)), 0u);
}

TEST(MemoryDiscriminatorTest, ReadsTheStackAPopTakes) {
  FakeGuest guest;
  guest.put(0x1000, {0x58});        // pop %rax
  guest.put(0x1001, {0xeb, 0xfd});  // jmp 0x1000
  kvm_regs regs = at(0x1000);
  regs.rsp = 0x1f00;
  guest.put_u64(0x1f00, 1);
  const uint32_t one = digest_at(guest, regs);
  guest.put_u64(0x1f00, 2);
  EXPECT_NE(one, 0u);
  EXPECT_NE(one, digest_at(guest, regs));
}

TEST(MemoryDiscriminatorTest, SkipsOperandsOutsideMappedRamAndCodeItCannotRead) {
  FakeGuest guest;
  guest.put(0x1000, {0x48, 0xff, 0x03});  // incq (%rbx), with RBX unmapped
  kvm_regs regs = at(0x1000);
  regs.rbx = 0x900000;
  EXPECT_EQ(digest_at(guest, regs), 0u);
  EXPECT_EQ(digest_at(guest, at(0x400000)), 0u) << "RIP itself unmapped";
}

TEST(MemoryDiscriminatorTest, AddsTheSegmentBaseOfAnOverriddenOperand) {
  FakeGuest guest;
  guest.put(0x1000, {0x64, 0x48, 0xff, 0x04, 0x25, 0x00, 0x00, 0x00, 0x00});  // incq %fs:0
  guest.put_u64(0x1800, 1);
  MemoryDiscriminator discriminator;
  auto with_base = discriminator.digest(at(0x1000), SegmentBases{0x1800, 0}, guest.reader());
  ASSERT_TRUE(with_base.ok());
  EXPECT_NE(*with_base, 0u);
  guest.put_u64(0x1800, 2);
  auto moved = discriminator.digest(at(0x1000), SegmentBases{0x1800, 0}, guest.reader());
  ASSERT_TRUE(moved.ok());
  EXPECT_NE(*with_base, *moved);
}

}  // namespace
}  // namespace ftvm::replay
