#include "vmm/guest_memory.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <vector>

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

// What the VMM writes into RAM (a device's DMA) is logged per page once asked for, each page
// once until taken; a write across a page boundary logs both pages.
TEST(GuestMemory, HostWritesAreLoggedPerPageOnceAskedFor) {
  auto memory = GuestMemory::allocate(kSize);
  ASSERT_TRUE(memory.ok());
  const std::array<uint8_t, 4> bytes = {1, 2, 3, 4};
  ASSERT_TRUE(memory->write(0x1000, bytes).ok());
  EXPECT_TRUE(memory->take_host_written_pages().empty()) << "not asked for yet";
  memory->log_host_writes();
  ASSERT_TRUE(memory->write(0x5ffe, bytes).ok());
  ASSERT_TRUE(memory->write(0x5000, bytes).ok());
  memory->note_host_write(kSize - 1, 1);
  memory->note_host_write(0x8000, 0);
  EXPECT_EQ(memory->take_host_written_pages(),
            (std::vector<uint64_t>{0x5000, 0x6000, kSize - 0x1000}));
  EXPECT_TRUE(memory->take_host_written_pages().empty()) << "taken once";
  EXPECT_FALSE(memory->write(kSize - 2, bytes).ok());
  EXPECT_TRUE(memory->take_host_written_pages().empty()) << "a refused write changes nothing";
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
