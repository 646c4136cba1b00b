// A kick ends the guest's run only after the guest has had its slice: never before (the timer
// cannot fire early, so those checks cannot flake on a slow machine), and always eventually.
#include "vmm/kick_pacer.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <thread>

namespace ftvm {
namespace {

using namespace std::chrono_literals;
using Clock = KickPacer::Clock;

constexpr int kSignal = SIGUSR2;
std::atomic<int64_t> g_signalled_ns{0};

void on_signal(int) {
  g_signalled_ns.store(Clock::now().time_since_epoch().count());
}

class KickPacerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    struct sigaction action {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    ASSERT_EQ(sigaction(kSignal, &action, &previous_), 0);
    g_signalled_ns.store(0);
    ASSERT_TRUE(pacer_.bind_to_current_thread(kSignal).ok());
  }
  void TearDown() override {
    pacer_.left();
    sigaction(kSignal, &previous_, nullptr);
  }

  // Sleeps until the signal came or `timeout` passed; when it came, if it did.
  static std::optional<Clock::time_point> wait_for_signal(Clock::duration timeout) {
    const auto until = Clock::now() + timeout;
    while (g_signalled_ns.load() == 0 && Clock::now() < until) std::this_thread::sleep_for(1ms);
    const int64_t at = g_signalled_ns.load();
    if (at == 0) return std::nullopt;
    return Clock::time_point(Clock::duration(at));
  }

  KickPacer pacer_;
  struct sigaction previous_ {};
};

TEST(KickPacerSlice, IsTheHostTimeWithinBounds) {
  EXPECT_EQ(KickPacer::slice_for(0ns), KickPacer::kMinSlice);
  EXPECT_EQ(KickPacer::slice_for(5ms), 5ms);
  EXPECT_EQ(KickPacer::slice_for(10s), KickPacer::kMaxSlice);
}

TEST(KickPacerSlice, AKickWaitsForTheRestOfTheSliceOnly) {
  const Clock::time_point entered{1s};
  EXPECT_EQ(KickPacer::kick_time(entered + 2ms, entered, 5ms), entered + 5ms);
  EXPECT_EQ(KickPacer::kick_time(entered + 7ms, entered, 5ms), entered + 7ms);
}

TEST_F(KickPacerTest, AKickWhileTheGuestRunsComesAfterItsSlice) {
  const auto entered = Clock::now();
  pacer_.entering(entered, 30ms);
  pacer_.kick();
  const auto signalled = wait_for_signal(5s);
  ASSERT_TRUE(signalled) << "the kick never came";
  EXPECT_GE(*signalled, entered + 30ms);
}

TEST_F(KickPacerTest, AKickBeforeEntryIsServedOneSliceAfterIt) {
  pacer_.kick();
  EXPECT_FALSE(wait_for_signal(20ms)) << "kicked a guest that was not running";
  const auto entered = Clock::now();
  pacer_.entering(entered, 25ms);
  const auto signalled = wait_for_signal(5s);
  ASSERT_TRUE(signalled) << "the kick asked for before entry was lost";
  EXPECT_GE(*signalled, entered + 25ms);
}

TEST_F(KickPacerTest, LeavingTheGuestCancelsAKickStillWaiting) {
  pacer_.entering(Clock::now(), 30ms);
  pacer_.kick();
  pacer_.left();
  EXPECT_FALSE(wait_for_signal(100ms));
  // Served kicks are forgotten: the next entry is not kicked.
  pacer_.entering(Clock::now(), 0ns);
  EXPECT_FALSE(wait_for_signal(20ms));
}

TEST_F(KickPacerTest, AKickFromAnotherThreadAfterTheSliceComes) {
  pacer_.entering(Clock::now(), 0ns);
  std::this_thread::sleep_for(KickPacer::kMinSlice * 2);
  std::thread([this] { pacer_.kick(); }).join();
  EXPECT_TRUE(wait_for_signal(5s));
}

}  // namespace
}  // namespace ftvm
