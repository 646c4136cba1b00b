#include "vmm/bus.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace ftvm {
namespace {

class NullDevice final : public IoDevice {
 public:
  void read(uint64_t, std::span<uint8_t>) override {}
  void write(uint64_t, std::span<const uint8_t>) override {}
};

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

class BusTest : public ::testing::Test {
 protected:
  BusTest() { EXPECT_TRUE(bus.insert(0x40, 4, pit, "pit").ok()); }

  Bus bus;
  NullDevice pit;
  NullDevice other;
};

TEST_F(BusTest, RejectsAnExactOverlap) {
  Result<void> result = bus.insert(0x40, 4, other, "other");
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("other"), std::string::npos);
  EXPECT_NE(result.error().message.find("pit"), std::string::npos);
}

TEST_F(BusTest, RejectsOverlapAtEitherEnd) {
  EXPECT_FALSE(bus.insert(0x3e, 3, other, "tail over head").ok());
  EXPECT_FALSE(bus.insert(0x43, 2, other, "head over tail").ok());
}

TEST_F(BusTest, RejectsContainingAndContainedRanges) {
  EXPECT_FALSE(bus.insert(0x00, 0x100, other, "around").ok());
  EXPECT_FALSE(bus.insert(0x41, 1, other, "inside").ok());
}

TEST_F(BusTest, AcceptsAdjacentRangesOnBothSides) {
  NullDevice below;
  EXPECT_TRUE(bus.insert(0x3c, 4, below, "below").ok());
  EXPECT_TRUE(bus.insert(0x44, 4, other, "above").ok());
  EXPECT_EQ(bus.name_at(0x3f), "below");
  EXPECT_EQ(bus.name_at(0x40), "pit");
  EXPECT_EQ(bus.name_at(0x43), "pit");
  EXPECT_EQ(bus.name_at(0x44), "above");
}

TEST_F(BusTest, RejectedInsertLeavesTheBusUnchanged) {
  EXPECT_FALSE(bus.insert(0x42, 4, other, "other").ok());
  EXPECT_EQ(bus.name_at(0x45), "");
  EXPECT_FALSE(bus.find(0x45, 1).has_value());
}

TEST_F(BusTest, FindsTheFirstAndLastByteWithOffsets) {
  auto first = bus.find(0x40, 1);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->device, &pit);
  EXPECT_EQ(first->offset, 0u);
  auto last = bus.find(0x43, 1);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->offset, 3u);
  auto whole = bus.find(0x40, 4);
  ASSERT_TRUE(whole.has_value());
  EXPECT_EQ(whole->offset, 0u);
}

TEST_F(BusTest, FindsNothingJustOutside) {
  EXPECT_FALSE(bus.find(0x3f, 1).has_value());
  EXPECT_FALSE(bus.find(0x44, 1).has_value());
  EXPECT_EQ(bus.name_at(0x44), "");
}

TEST_F(BusTest, RejectsAccessesStraddlingTheEnd) {
  EXPECT_FALSE(bus.find(0x43, 2).has_value());
  EXPECT_FALSE(bus.find(0x42, 4).has_value());
  EXPECT_FALSE(bus.find(0x40, 8).has_value());
  EXPECT_FALSE(bus.find(0x41, kMax).has_value());  // a size that would wrap the address
}

TEST_F(BusTest, RejectsAccessesStraddlingIntoTheNextDevice) {
  ASSERT_TRUE(bus.insert(0x44, 4, other, "next").ok());
  EXPECT_FALSE(bus.find(0x43, 2).has_value());
}

TEST_F(BusTest, RejectsEmptyAccesses) {
  EXPECT_FALSE(bus.find(0x40, 0).has_value());
}

TEST_F(BusTest, RejectsEmptyAndWrappingRanges) {
  EXPECT_FALSE(bus.insert(0x1000, 0, other, "empty").ok());
  EXPECT_FALSE(bus.insert(kMax - 0xf, 0x20, other, "wrapping").ok());
  EXPECT_FALSE(bus.insert(kMax, kMax, other, "wrapping").ok());
  EXPECT_FALSE(bus.find(kMax, 1).has_value());
  EXPECT_FALSE(bus.find(0, 1).has_value());
}

TEST_F(BusTest, HighRangesWork) {
  ASSERT_TRUE(bus.insert(kMax - 0xf, 0xf, other, "high").ok());
  auto route = bus.find(kMax - 1, 1);
  ASSERT_TRUE(route.has_value());
  EXPECT_EQ(route->offset, 0xeu);
  EXPECT_FALSE(bus.find(kMax - 1, 2).has_value());
}

TEST(Bus, EmptyBusFindsNothing) {
  Bus bus;
  EXPECT_FALSE(bus.find(0, 1).has_value());
  EXPECT_FALSE(bus.find(kMax, 1).has_value());
  EXPECT_EQ(bus.name_at(0x3f8), "");
}

}  // namespace
}  // namespace ftvm
