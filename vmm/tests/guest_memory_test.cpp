#include "vmm/guest_memory.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>

namespace ftvm {
namespace {

constexpr uint64_t kSize = 1 << 20;

TEST(GuestMemory, RejectsSizesThatAreNotWholePages) {
  EXPECT_FALSE(GuestMemory::allocate(0).ok());
  EXPECT_FALSE(GuestMemory::allocate(4097).ok());
}

TEST(GuestMemory, AccessAtTheEdges) {
  auto memory = GuestMemory::allocate(kSize);
  ASSERT_TRUE(memory.ok());
  EXPECT_TRUE(memory->span(0, kSize).ok());
  EXPECT_TRUE(memory->span(kSize - 1, 1).ok());
  EXPECT_TRUE(memory->span(kSize, 0).ok()) << "an empty range at the end is in bounds";
  EXPECT_FALSE(memory->span(kSize, 1).ok());
  EXPECT_FALSE(memory->span(kSize - 1, 2).ok());
  EXPECT_FALSE(memory->span(0, kSize + 1).ok());
}

TEST(GuestMemory, RejectsRangesWhoseEndOverflows) {
  auto memory = GuestMemory::allocate(kSize);
  ASSERT_TRUE(memory.ok());
  EXPECT_FALSE(memory->span(~0ull, 2).ok());
  EXPECT_FALSE(memory->span(16, ~0ull - 8).ok());
  EXPECT_FALSE(memory->contains(~0ull - 1, 4));
}

TEST(GuestMemory, WriteThenReadRoundTrips) {
  auto memory = GuestMemory::allocate(kSize);
  ASSERT_TRUE(memory.ok());
  const std::array<uint8_t, 4> in = {1, 2, 3, 4};
  ASSERT_TRUE(memory->write(kSize - 4, in).ok());
  std::array<uint8_t, 4> out{};
  ASSERT_TRUE(memory->read(kSize - 4, out).ok());
  EXPECT_EQ(in, out);
  EXPECT_FALSE(memory->write(kSize - 3, in).ok());
  EXPECT_FALSE(memory->read(kSize - 3, out).ok());
  EXPECT_EQ(memory->host_base()[kSize - 1], 4);
}

TEST(GuestMemory, WriteObjectPlacesTheObjectBytes) {
  auto memory = GuestMemory::allocate(kSize);
  ASSERT_TRUE(memory.ok());
  const uint64_t value = 0x1122334455667788;
  ASSERT_TRUE(memory->write_object(0x100, value).ok());
  EXPECT_EQ(memory->host_base()[0x100], 0x88);
  EXPECT_EQ(memory->host_base()[0x107], 0x11);
  EXPECT_FALSE(memory->write_object(kSize - 4, value).ok());
}

}  // namespace
}  // namespace ftvm
