#include "vmm/event_queue.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace ftvm {
namespace {

using namespace std::chrono_literals;

TEST(EventQueue, PushKicksAtOnceUnlessDeferred) {
  EventQueue queue;
  int kicks = 0;
  queue.set_kick([&] { ++kicks; });
  queue.push(PitExpiry{1});
  EXPECT_EQ(kicks, 1);
  queue.set_deferred_kick(true);
  queue.push(PitExpiry{2});
  EXPECT_EQ(kicks, 1) << "a deferred event waits for the guest's next exit";
  queue.kick_if_pending();
  EXPECT_EQ(kicks, 2);
  while (queue.try_pop()) {
  }
  queue.kick_if_pending();
  EXPECT_EQ(kicks, 2) << "nothing pending, nothing to kick for";
}

TEST(EventQueue, PopsInOrder) {
  EventQueue queue;
  queue.push(PitExpiry{7});
  queue.push(ConsoleInput{{'a'}});
  auto first = queue.try_pop();
  ASSERT_TRUE(first && std::holds_alternative<PitExpiry>(*first));
  EXPECT_EQ(std::get<PitExpiry>(*first).generation, 7u);
  auto second = queue.try_pop();
  ASSERT_TRUE(second && std::holds_alternative<ConsoleInput>(*second));
  EXPECT_FALSE(queue.try_pop());
}

TEST(EventQueue, OldestPendingIsWhenTheQueueStoppedBeingEmpty) {
  EventQueue queue;
  EXPECT_FALSE(queue.oldest_pending_since());
  queue.push(PitExpiry{1});
  const auto first = queue.oldest_pending_since();
  ASSERT_TRUE(first);
  std::this_thread::sleep_for(2ms);
  queue.push(PitExpiry{2});
  EXPECT_EQ(queue.oldest_pending_since(), first) << "a younger event does not reset it";
  while (queue.try_pop()) {
  }
  EXPECT_FALSE(queue.oldest_pending_since());
  queue.push(PitExpiry{3});
  EXPECT_GT(*queue.oldest_pending_since(), *first);
}

TEST(EventQueue, FirstStopReasonWinsAndWakesAWaiter) {
  EventQueue queue;
  std::thread stopper([&] {
    std::this_thread::sleep_for(20ms);
    queue.request_stop("first");
    queue.request_stop("second");
  });
  const auto started = EventQueue::Clock::now();
  queue.wait(started + 10s);
  stopper.join();
  EXPECT_LT(EventQueue::Clock::now() - started, 5s) << "the stop request must wake the waiter";
  EXPECT_EQ(queue.stop_reason(), "first");
}

TEST(EventQueue, TheStopListenerHearsTheFirstStopOnly) {
  EventQueue queue;
  std::vector<std::string> heard;
  queue.set_stop_listener([&](const std::string& reason) { heard.push_back(reason); });
  queue.request_stop("first");
  queue.request_stop("second");
  EXPECT_EQ(heard, std::vector<std::string>{"first"});
}

TEST(EventQueue, AListenerSetAfterAStopHearsItAtOnce) {
  EventQueue queue;
  queue.request_stop("early");
  std::string heard;
  queue.set_stop_listener([&](const std::string& reason) { heard = reason; });
  EXPECT_EQ(heard, "early");
}

}  // namespace
}  // namespace ftvm
