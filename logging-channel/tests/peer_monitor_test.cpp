#include "logging_channel/peer_monitor.h"

#include <gtest/gtest.h>

namespace ftvm::channel {
namespace {

using namespace std::chrono_literals;
using State = PeerMonitor::State;

const LinkTimeouts kTimeouts{10ms, 50ms, 200ms};

TEST(PeerMonitorTest, SilenceFirstSuspectsThenDeclares) {
  const auto t0 = PeerMonitor::Clock::time_point{} + 1s;
  PeerMonitor monitor(kTimeouts, t0);
  EXPECT_EQ(monitor.check(t0 + 49ms), std::nullopt);
  EXPECT_EQ(monitor.check(t0 + 50ms), State::kSuspected);
  EXPECT_EQ(monitor.check(t0 + 100ms), std::nullopt);  // reported once
  EXPECT_EQ(monitor.next_deadline(), t0 + 200ms);
  EXPECT_EQ(monitor.check(t0 + 200ms), State::kDeclared);
  EXPECT_NE(monitor.reason().find("200 ms"), std::string::npos);
}

TEST(PeerMonitorTest, HearingThePeerClearsSuspicion) {
  const auto t0 = PeerMonitor::Clock::time_point{} + 1s;
  PeerMonitor monitor(kTimeouts, t0);
  EXPECT_EQ(monitor.check(t0 + 60ms), State::kSuspected);
  monitor.heard(t0 + 70ms);
  EXPECT_EQ(monitor.state(), State::kAlive);
  EXPECT_EQ(monitor.check(t0 + 250ms), State::kSuspected);  // 180 ms since it was heard
  EXPECT_EQ(monitor.check(t0 + 270ms), State::kDeclared);
}

TEST(PeerMonitorTest, ADeclaredPeerStaysLost) {
  const auto t0 = PeerMonitor::Clock::time_point{} + 1s;
  PeerMonitor monitor(kTimeouts, t0);
  monitor.declare("connection ended");
  monitor.heard(t0 + 1ms);
  EXPECT_EQ(monitor.state(), State::kDeclared);
  EXPECT_EQ(monitor.reason(), "connection ended");
  EXPECT_EQ(monitor.check(t0 + 1s), std::nullopt);
}

}  // namespace
}  // namespace ftvm::channel
