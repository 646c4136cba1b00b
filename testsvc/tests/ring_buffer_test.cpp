#include "kernel/ring_buffer.h"

#include <gtest/gtest.h>

namespace testsvc::kernel {
namespace {

TEST(TestsvcByteRing, FifoOrderAcrossWrapAround) {
  ByteRing<4> ring;
  uint8_t byte = 0;
  EXPECT_FALSE(ring.Pop(&byte));
  for (int round = 0; round < 5; ++round) {
    EXPECT_TRUE(ring.Push(1));
    EXPECT_TRUE(ring.Push(2));
    EXPECT_TRUE(ring.Push(3));
    ASSERT_TRUE(ring.Pop(&byte));
    EXPECT_EQ(byte, 1);
    ASSERT_TRUE(ring.Pop(&byte));
    EXPECT_EQ(byte, 2);
    ASSERT_TRUE(ring.Pop(&byte));
    EXPECT_EQ(byte, 3);
    EXPECT_TRUE(ring.empty());
  }
}

TEST(TestsvcByteRing, DropsWhenFull) {
  ByteRing<2> ring;
  EXPECT_TRUE(ring.Push('a'));
  EXPECT_TRUE(ring.Push('b'));
  EXPECT_FALSE(ring.Push('c'));
  EXPECT_EQ(ring.size(), 2u);
  uint8_t byte = 0;
  ASSERT_TRUE(ring.Pop(&byte));
  EXPECT_EQ(byte, 'a');
}

}  // namespace
}  // namespace testsvc::kernel
