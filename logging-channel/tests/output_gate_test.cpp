#include "logging_channel/output_gate.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace ftvm::channel {
namespace {

class RecordingSink : public ConsoleSink {
 public:
  void write(std::span<const uint8_t> bytes) override {
    text.append(bytes.begin(), bytes.end());
    ++writes;
  }
  std::string text;
  int writes = 0;
};

std::span<const uint8_t> bytes_of(const std::string& text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

class OutputGateTest : public ::testing::Test {
 protected:
  void hold(const std::string& text, uint64_t lsn) { gate.hold(bytes_of(text), lsn); }

  RecordingSink sink;
  OutputGate gate{sink};
};

TEST_F(OutputGateTest, HoldsUntilTheLsnIsAcked) {
  hold("abc", 5);
  EXPECT_EQ(sink.text, "");
  EXPECT_EQ(gate.held_bytes(), 3u);
  gate.release_through(4);
  EXPECT_EQ(sink.text, "");
  gate.release_through(5);
  EXPECT_EQ(sink.text, "abc");
  EXPECT_EQ(gate.held_bytes(), 0u);
  EXPECT_EQ(gate.released_bytes(), 3u);
}

// An unprotected side that a backup joined: output waits again, for acks of the new log
// (from its first LSN) and for the new backup's lease; the old lease counts for nothing.
TEST_F(OutputGateTest, ProtectedAgainItWaitsForTheNewBackupsAcksAndLease) {
  gate.set_lease(std::chrono::seconds(1));
  gate.renew_lease(OutputGate::Clock::now());
  gate.open();
  hold("open ", 1);
  EXPECT_EQ(sink.text, "open ");
  gate.set_lease(std::chrono::seconds(1));  // a new link sets its lease while the gate is open
  EXPECT_TRUE(gate.lease_holds(OutputGate::Clock::now()));
  gate.protect_again(100);
  hold("before ", 100);  // covered by the transferred state: needs only the lease
  hold("after", 101);
  EXPECT_EQ(sink.text, "open ");
  EXPECT_FALSE(gate.lease_holds(OutputGate::Clock::now()));
  gate.renew_lease(OutputGate::Clock::now());
  EXPECT_EQ(sink.text, "open before ");
  gate.release_through(101);
  EXPECT_EQ(sink.text, "open before after");
}

TEST_F(OutputGateTest, ProtectAgainIsIgnoredUnlessOpen) {
  gate.protect_again(0);  // gated already: nothing changes
  hold("x", 3);
  gate.release_through(3);
  EXPECT_EQ(sink.text, "x");
  gate.discard();
  gate.protect_again(0);
  hold("y", 0);
  EXPECT_EQ(sink.text, "x");
  EXPECT_EQ(gate.discarded_bytes(), 1u);
}

TEST_F(OutputGateTest, ReleasesOnlyWhatIsAckedInHoldOrder) {
  hold("one ", 1);
  hold("two ", 2);
  hold("three", 3);
  gate.release_through(2);
  EXPECT_EQ(sink.text, "one two ");
  EXPECT_EQ(gate.held_bytes(), 5u);
  gate.release_through(3);
  EXPECT_EQ(sink.text, "one two three");
}

TEST_F(OutputGateTest, LaterOutputWithSmallerLsnWaitsBehindAnEarlierOne) {
  hold("first", 10);
  hold("second", 2);
  gate.release_through(5);
  EXPECT_EQ(sink.text, "") << "the byte stream must not be reordered";
  gate.release_through(10);
  EXPECT_EQ(sink.text, "firstsecond");
}

TEST_F(OutputGateTest, AcksNeverGoBackwards) {
  hold("a", 3);
  gate.release_through(3);
  gate.release_through(1);
  hold("b", 2);
  EXPECT_EQ(sink.text, "ab") << "LSN 2 was acknowledged already";
}

TEST_F(OutputGateTest, AlreadyAckedOutputLeavesAtOnce) {
  gate.release_through(7);
  hold("now", 7);
  EXPECT_EQ(sink.text, "now");
  EXPECT_EQ(gate.hold_latency().count, 1u);
}

TEST_F(OutputGateTest, EqualLsnsAreMergedAndReleasedTogether) {
  hold("a", 4);
  hold("b", 4);
  hold("c", 4);
  gate.release_through(4);
  EXPECT_EQ(sink.text, "abc");
  EXPECT_EQ(sink.writes, 1);
  EXPECT_EQ(gate.hold_latency().count, 1u);
}

TEST_F(OutputGateTest, OutputsOneAckFreesLeaveInOneWrite) {
  hold("a", 1);
  hold("b", 2);
  hold("c", 3);
  hold("d", 4);
  gate.release_through(3);
  EXPECT_EQ(sink.text, "abc");
  EXPECT_EQ(sink.writes, 1);
  EXPECT_EQ(gate.hold_latency().count, 3u) << "each output's hold is still its own";
}

// The gate's own part of a hold: the hold minus the round trip of the frame that carried the
// output's log (sent at `sent`, acked by an ack that arrived at `arrived`).
TEST_F(OutputGateTest, TheHoldBeyondTheRoundTripLeavesOutTheFramesRoundTrip) {
  const auto held_at = OutputGate::Clock::now();
  hold("x", 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  gate.sent_through(1, held_at + std::chrono::milliseconds(10));
  gate.release_through(1, held_at + std::chrono::milliseconds(25));
  const LatencySummary hold_time = gate.hold_latency();
  const LatencySummary beyond = gate.hold_beyond_round_trip();
  ASSERT_EQ(beyond.count, 1u);
  EXPECT_GE(hold_time.p50_ms, 30.0);
  EXPECT_NEAR(hold_time.p50_ms - beyond.p50_ms, 15.0, 0.001) << "the round trip is 25 - 10 ms";
}

TEST_F(OutputGateTest, AnOutputWhoseLogWasAckedBeforeItWasHeldCountsItsWholeHold) {
  gate.sent_through(7, OutputGate::Clock::now());
  gate.release_through(7);
  hold("now", 7);
  EXPECT_EQ(gate.hold_beyond_round_trip().count, 1u);
  EXPECT_EQ(gate.hold_beyond_round_trip().p50_ms, gate.hold_latency().p50_ms);
}

TEST_F(OutputGateTest, OnlyOutputsHeldBeforeASendAreMarkedSentByIt) {
  hold("early", 1);
  gate.sent_through(1, OutputGate::Clock::now());
  hold("late", 2);  // its log went in a later frame, which has not left
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  gate.release_through(2, OutputGate::Clock::now());
  const LatencySummary beyond = gate.hold_beyond_round_trip();
  ASSERT_EQ(beyond.count, 2u);
  // "early" waited its round trip; "late" was never marked sent, so its whole 20 ms hold
  // counts as the gate's.
  EXPECT_GE(beyond.max_ms, 20.0);
  EXPECT_LT(beyond.p50_ms, 20.0);
}

TEST_F(OutputGateTest, OpenReleasesEverythingAndPassesLaterOutputThrough) {
  hold("held ", 100);
  gate.open();
  EXPECT_EQ(sink.text, "held ");
  hold("live", 1000);
  EXPECT_EQ(sink.text, "held live");
  EXPECT_EQ(gate.held_bytes(), 0u);
  EXPECT_EQ(gate.released_bytes(), 9u);
  EXPECT_EQ(gate.hold_latency().count, 1u) << "pass-through output was never held";
}

TEST_F(OutputGateTest, DiscardDropsHeldAndLaterOutput) {
  hold("gone", 100);
  hold("too", 101);
  gate.discard();
  hold("later", 1);
  gate.release_through(1000);
  gate.open();
  EXPECT_EQ(sink.text, "");
  EXPECT_EQ(gate.held_bytes(), 0u);
  EXPECT_EQ(gate.discarded_bytes(), 12u);
  EXPECT_EQ(gate.released_bytes(), 0u);
}

TEST_F(OutputGateTest, EmptyOutputIsIgnored) {
  gate.hold({}, 9);
  EXPECT_EQ(gate.held_bytes(), 0u);
  gate.release_through(9);
  EXPECT_EQ(sink.writes, 0);
}

TEST_F(OutputGateTest, LatencyCountsReleasedOutputsOnly) {
  hold("a", 1);
  hold("b", 2);
  hold("c", 3);
  gate.release_through(2);
  const LatencySummary latency = gate.hold_latency();
  EXPECT_EQ(latency.count, 2u);
  EXPECT_GE(latency.max_ms, latency.p50_ms);
  EXPECT_GE(latency.p50_ms, 0.0);
}

TEST_F(OutputGateTest, ConcurrentReleasesKeepOrder) {
  std::thread acker([this] {
    for (uint64_t lsn = 0; lsn <= 2000; ++lsn) gate.release_through(lsn);
  });
  std::string expected;
  for (uint64_t lsn = 1; lsn <= 2000; ++lsn) {
    const std::string text = std::to_string(lsn) + ",";
    expected += text;
    hold(text, lsn);
  }
  acker.join();
  gate.release_through(2000);
  EXPECT_EQ(sink.text, expected);
}

// ---- The lease --------------------------------------------------------------------------

TEST_F(OutputGateTest, WithALeaseNothingLeavesBeforeItIsRenewed) {
  gate.set_lease(std::chrono::milliseconds(100));
  hold("abc", 1);
  gate.release_through(1);
  EXPECT_EQ(sink.text, "");
  gate.renew_lease(OutputGate::Clock::now());
  EXPECT_EQ(sink.text, "abc");
}

TEST_F(OutputGateTest, ALeaseFromAFrameSentLongAgoReleasesNothing) {
  const auto now = OutputGate::Clock::now();
  gate.set_lease(std::chrono::milliseconds(100));
  gate.renew_lease(now - std::chrono::seconds(1));
  EXPECT_FALSE(gate.lease_holds(now));
  hold("abc", 1);
  gate.release_through(1);
  EXPECT_EQ(sink.text, "");
  // An older frame's ack does not shorten a lease a newer one gave.
  gate.renew_lease(now);
  gate.renew_lease(now - std::chrono::seconds(2));
  EXPECT_TRUE(gate.lease_holds(now + std::chrono::milliseconds(50)));
  EXPECT_FALSE(gate.lease_holds(now + std::chrono::milliseconds(100)));
  EXPECT_EQ(sink.text, "abc");
}

TEST_F(OutputGateTest, OpeningIgnoresAnExpiredLease) {
  gate.set_lease(std::chrono::milliseconds(100));
  hold("abc", 1);
  gate.open();
  EXPECT_EQ(sink.text, "abc");
  hold("d", 2);
  EXPECT_EQ(sink.text, "abcd");
}

}  // namespace
}  // namespace ftvm::channel
