#include "logging_channel/net_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace ftvm::channel {
namespace {

class RecordingNetwork final : public NetSink {
 public:
  void transmit(std::vector<uint8_t> frame) override { sent.push_back(frame.at(0)); }
  std::vector<uint8_t> sent;  // each frame's first byte
};

std::vector<uint8_t> frame(uint8_t id) {
  return std::vector<uint8_t>(60, id);
}

class NetGateTest : public ::testing::Test {
 protected:
  RecordingNetwork network;
  std::atomic<bool> lease{true};
  NetGate gate{network, [this] { return lease.load(); }};
};

TEST_F(NetGateTest, AFrameLeavesOnlyOnceItsExitIsAcknowledged) {
  gate.transmit(frame(1));
  EXPECT_TRUE(gate.tag(10));
  gate.release_through(9);
  EXPECT_TRUE(network.sent.empty());
  EXPECT_EQ(gate.stats().held, 1u);
  gate.release_through(10);
  EXPECT_EQ(network.sent, std::vector<uint8_t>{1});
  EXPECT_EQ(gate.stats().sent, 1u);
  EXPECT_FALSE(gate.tag(11)) << "an exit that queued nothing";
}

TEST_F(NetGateTest, FramesLeaveInTheOrderTheGuestQueuedThem) {
  gate.transmit(frame(1));
  gate.transmit(frame(2));
  gate.tag(5);
  gate.transmit(frame(3));
  gate.tag(7);
  gate.release_through(7);
  EXPECT_EQ(network.sent, (std::vector<uint8_t>{1, 2, 3}));
}

TEST_F(NetGateTest, NothingLeavesWhileTheLeaseHasRunOut) {
  gate.transmit(frame(1));
  gate.tag(1);
  lease = false;
  gate.release_through(1);
  EXPECT_TRUE(network.sent.empty());
  lease = true;
  gate.release_through(1);
  EXPECT_EQ(network.sent, std::vector<uint8_t>{1});
}

TEST_F(NetGateTest, OpeningSendsEverythingHeldAndPassesLaterFramesThrough) {
  gate.transmit(frame(1));
  gate.tag(4);
  gate.transmit(frame(2));  // not tagged yet
  gate.open();
  EXPECT_EQ(network.sent, (std::vector<uint8_t>{1, 2}));
  gate.transmit(frame(3));
  EXPECT_EQ(network.sent, (std::vector<uint8_t>{1, 2, 3}));
}

TEST_F(NetGateTest, ALosingSideSendsNothingMore) {
  gate.transmit(frame(1));
  gate.tag(4);
  gate.discard();
  gate.release_through(100);
  gate.transmit(frame(2));
  gate.tag(101);
  gate.release_through(101);
  EXPECT_TRUE(network.sent.empty());
  EXPECT_EQ(gate.stats().discarded, 2u);
  EXPECT_EQ(gate.stats().held, 0u);
}

// A backup's card: silent while it replays, open once live, gated again for a joiner.
TEST_F(NetGateTest, ABackupsGateDropsReplayedFramesThenOpensAndIsProtectedAgain) {
  gate.stand_by();
  gate.transmit(frame(1));
  EXPECT_FALSE(gate.tag(3)) << "a replayed frame is not held";
  gate.release_through(3);
  EXPECT_TRUE(network.sent.empty());
  EXPECT_EQ(gate.stats().replayed, 1u);
  gate.protect_again(3);  // not open yet: a joiner cannot come before this side is live
  gate.transmit(frame(2));
  EXPECT_TRUE(network.sent.empty());

  gate.open();  // live
  gate.transmit(frame(3));
  EXPECT_EQ(network.sent, std::vector<uint8_t>{3});
  gate.protect_again(10);
  gate.transmit(frame(4));
  EXPECT_TRUE(gate.tag(12));
  gate.release_through(11);
  EXPECT_EQ(network.sent, std::vector<uint8_t>{3});
  gate.release_through(12);
  EXPECT_EQ(network.sent, (std::vector<uint8_t>{3, 4}));
}

TEST_F(NetGateTest, ASideThatLostStaysSilentWhateverComesAfter) {
  gate.discard();
  gate.open();
  gate.transmit(frame(1));
  gate.protect_again(0);
  gate.transmit(frame(2));
  gate.tag(1);
  gate.release_through(1);
  EXPECT_TRUE(network.sent.empty());
  EXPECT_EQ(gate.stats().discarded, 2u);
}

}  // namespace
}  // namespace ftvm::channel
