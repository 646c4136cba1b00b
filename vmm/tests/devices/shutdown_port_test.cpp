#include "vmm/devices/shutdown_port.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace ftvm {
namespace {

TEST(ShutdownPort, NoRequestUntilWritten) {
  ShutdownPort port;
  EXPECT_FALSE(port.requested_status().has_value());
}

TEST(ShutdownPort, FourByteWriteIsALittleEndianStatus) {
  ShutdownPort port;
  const uint8_t status[] = {0x78, 0x56, 0x34, 0x12};
  port.write(0, status);
  ASSERT_TRUE(port.requested_status().has_value());
  EXPECT_EQ(*port.requested_status(), 0x12345678u);
}

TEST(ShutdownPort, ZeroIsARequestToo) {
  ShutdownPort port;
  const uint8_t status[] = {0, 0, 0, 0};
  port.write(0, status);
  EXPECT_EQ(port.requested_status(), 0u);
}

TEST(ShutdownPort, LatestRequestWins) {
  ShutdownPort port;
  const uint8_t first[] = {1, 0, 0, 0};
  const uint8_t second[] = {2, 0, 0, 0};
  port.write(0, first);
  port.write(0, second);
  EXPECT_EQ(port.requested_status(), 2u);
}

TEST(ShutdownPort, OtherWritesAreIgnored) {
  ShutdownPort port;
  const uint8_t one[] = {1};
  const uint8_t two[] = {1, 0};
  const uint8_t eight[] = {1, 0, 0, 0, 0, 0, 0, 0};
  const uint8_t four[] = {1, 0, 0, 0};
  port.write(0, one);
  port.write(0, two);
  port.write(0, eight);
  port.write(1, four);  // misaligned
  port.write(0, std::span<const uint8_t>());
  EXPECT_FALSE(port.requested_status().has_value());
}

TEST(ShutdownPort, ReadsReturnAllOnes) {
  ShutdownPort port;
  uint8_t data[4] = {};
  port.read(0, data);
  for (uint8_t byte : data) EXPECT_EQ(byte, 0xff);
  uint8_t one = 0;
  port.read(3, std::span<uint8_t>(&one, 1));
  EXPECT_EQ(one, 0xff);
  EXPECT_FALSE(port.requested_status().has_value());
}

}  // namespace
}  // namespace ftvm
