// The two ends of the channel, connected over loopback TCP: the log arrives whole and in order,
// acks release held outputs, and a lost peer is noticed by either way it can be lost.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <future>

#include "logging_channel/backup_link.h"
#include "logging_channel/console_writer.h"
#include "logging_channel/handshake.h"
#include "logging_channel/primary_link.h"
#include "logging_channel/tcp.h"

namespace ftvm::channel {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

class CollectingConsole final : public ConsoleSink {
 public:
  void write(std::span<const uint8_t> bytes) override {
    std::lock_guard lock(mutex_);
    text_.append(bytes.begin(), bytes.end());
    ++writes_;
  }
  std::string text() const {
    std::lock_guard lock(mutex_);
    return text_;
  }
  int writes() const {
    std::lock_guard lock(mutex_);
    return writes_;
  }

 private:
  mutable std::mutex mutex_;
  std::string text_;
  int writes_ = 0;
};

const LinkTimeouts kFast{5ms, 30ms, 120ms};

struct Connected {
  UniqueFd primary;
  UniqueFd backup;
};

Connected connect_pair() {
  auto listener = listen_tcp(*Endpoint::parse("127.0.0.1:0"));
  EXPECT_TRUE(listener) << listener.error().message;
  auto at = local_endpoint(listener->get());
  auto connecting = std::async(std::launch::async, [&] { return connect_tcp(*at, 2000ms); });
  auto accepted = accept_tcp(listener->get(), 2000ms);
  auto connected = connecting.get();
  EXPECT_TRUE(accepted && connected);
  return {std::move(*accepted), std::move(*connected)};
}

// Acks come at least every heartbeat (5 ms); 2 s is for a loaded machine.
bool eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

class LinksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto sockets = connect_pair();
    PrimaryLinkOptions options;
    options.timeouts = kFast;
    options.replay_costs = &costs_;
    primary_ = std::make_unique<PrimaryLink>(std::move(sockets.primary), FrameKey::none(), gate_,
                                             lag_, options);
    backup_ =
        std::make_unique<BackupLink>(std::move(sockets.backup), FrameKey::none(), feed_, kFast);
    // Each side waits for the other's greeting: the backup greets from its own thread.
    auto receiving = std::async(std::launch::async, [&] { return backup_->receive_hello(2000ms); });
    ASSERT_TRUE(primary_->send_hello(Hello{kProtocolVersion, "vm1", 1, {1, 2}, {3, 4, 5}}));
    auto hello = receiving.get();
    ASSERT_TRUE(hello) << hello.error().message;
    EXPECT_EQ(hello->vm_id, "vm1");
    EXPECT_EQ(hello->guest_image, (std::vector<uint8_t>{3, 4, 5}));
  }

  // Waits until the feed has `count` entries in total (or 2 s pass).
  std::vector<replay::LoggedEntry> take_entries(size_t count) {
    const auto deadline = replay::LogFeed::Clock::now() + 2s;
    while (received_.size() < count && replay::LogFeed::Clock::now() < deadline) {
      auto batch = feed_.wait(replay::LogFeed::Clock::now() + 10ms);
      for (auto& e : batch.entries) received_.push_back(std::move(e));
      if (batch.closed) closed_ = batch.closed;
    }
    return received_;
  }

  std::optional<std::string> wait_closed() {
    const auto deadline = replay::LogFeed::Clock::now() + 2s;
    while (!closed_ && replay::LogFeed::Clock::now() < deadline) {
      auto batch = feed_.wait(replay::LogFeed::Clock::now() + 10ms);
      if (batch.closed) closed_ = batch.closed;
    }
    return closed_;
  }

  CollectingConsole console_;
  replay::ReplayCostModel costs_;
  OutputGate gate_{console_};
  LagTracker lag_;
  replay::LogFeed feed_;
  std::unique_ptr<PrimaryLink> primary_;
  std::unique_ptr<BackupLink> backup_;
  std::vector<replay::LoggedEntry> received_;
  std::optional<std::string> closed_;
};

TEST_F(LinksTest, TheLogArrivesInOrderAndAcksReleaseHeldOutput) {
  std::promise<std::string> primary_lost;
  primary_->start([&](const std::string& why) { primary_lost.set_value(why); });
  backup_->start(nullptr);
  for (uint64_t e = 1; e <= 100; ++e) {
    ASSERT_TRUE(
        primary_->append(replay::TimerEntry{{e, replay::LandmarkKind::kSynchronous, {}}, 1}));
    ASSERT_TRUE(primary_->append(replay::HorizonEntry{e}));
  }
  const uint64_t tag = primary_->next_lsn();
  gate_.hold(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("hello\n"), 6), tag);
  EXPECT_EQ(console_.text(), "");  // nothing leaves before the backup has the log
  primary_->flush_now();
  auto entries = take_entries(200);
  ASSERT_EQ(entries.size(), 200u);
  for (size_t i = 0; i < entries.size(); ++i) EXPECT_EQ(entries[i].lsn, i);
  EXPECT_EQ(std::get<replay::HorizonEntry>(entries[199].entry).exit_count, 100u);
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while (console_.text().empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(console_.text(), "hello\n");
  EXPECT_GE(primary_->stats().acked_lsn, tag);

  primary_->goodbye("test over");
  EXPECT_THAT(wait_closed().value_or(""), HasSubstr("test over"));
  EXPECT_EQ(primary_lost.get_future().wait_for(0ms), std::future_status::timeout);
}

// A backup joining a running guest: the state comes between the hello and the log, entries
// appended before start() wait behind it, and the log goes on at the LSN the state ends at,
// where the unprotected gate, protected again, counts acks from.
TEST_F(LinksTest, AJoinedBackupGetsTheStateFirstAndTheLogFromItsFirstLsn) {
  gate_.open();
  gate_.protect_again(500);
  primary_->begin_log_at(500);
  ASSERT_TRUE(primary_->append(replay::HorizonEntry{7}));  // waits for start()
  const uint64_t tag = primary_->next_lsn();
  EXPECT_EQ(tag, 501u);
  gate_.hold(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("after\n"), 6), tag);
  ASSERT_TRUE(primary_->send_state(StatePages{0, {{0x1000, 1}}, {9}}));
  ASSERT_TRUE(primary_->send_state(StateDone{1, 7, true, true, {}, {1}, 500, 42, 3, 4, 20}));
  auto pages = backup_->receive_state(2000ms);
  ASSERT_TRUE(pages) << pages.error().message;
  EXPECT_TRUE(std::holds_alternative<StatePages>(*pages));
  auto done = backup_->receive_state(2000ms);
  ASSERT_TRUE(done) << done.error().message;
  ASSERT_TRUE(std::holds_alternative<StateDone>(*done));
  backup_->begin_log_at(std::get<StateDone>(*done).first_lsn,
                        std::get<StateDone>(*done).console_input_logged);
  EXPECT_EQ(console_.text(), "");

  primary_->start(nullptr);
  backup_->start(nullptr);
  auto entries = take_entries(1);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].lsn, 500u);
  EXPECT_TRUE(eventually([&] { return console_.text() == "after\n"; })) << console_.text();
  EXPECT_EQ(primary_->stats().acked_lsn, 501u);
  EXPECT_EQ(backup_->stats().console_input_bytes, 20u);  // counted from the handover's total
  primary_->goodbye("test over");
}

TEST_F(LinksTest, AGoodbyeDuringTheStateTransferSaysWhy) {
  ASSERT_TRUE(primary_->send_state(Goodbye{"this primary has a backup"}));
  auto message = backup_->receive_state(2000ms);
  ASSERT_FALSE(message);
  EXPECT_THAT(message.error().message,
              HasSubstr("the primary ended the state transfer: this primary has a backup"));
}

// A joining backup that never became ready: the primary drops what it appends, as after a loss,
// so the guest is never held up by a link nobody reads.
TEST_F(LinksTest, AnAbandonedLinkDropsEntriesAndCountsThemInItsLsns) {
  primary_->begin_log_at(10);
  primary_->abandon("the joining backup never acked");
  EXPECT_TRUE(primary_->lost());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(primary_->append(replay::HorizonEntry{1}));
  EXPECT_EQ(primary_->next_lsn(), 15u);
}

// ftvm pair gives a backup that took over the input its log did not hold: the backup counts
// what it held.
TEST_F(LinksTest, TheBackupCountsTheConsoleInputInItsLog) {
  primary_->start(nullptr);
  backup_->start(nullptr);
  ASSERT_TRUE(primary_->append(
      replay::ConsoleInputEntry{{3, replay::LandmarkKind::kSynchronous, {}}, {'l', 's', '\n'}}));
  ASSERT_TRUE(primary_->append(replay::HorizonEntry{3}));
  ASSERT_TRUE(primary_->append(
      replay::ConsoleInputEntry{{5, replay::LandmarkKind::kSynchronous, {}}, {'x'}}));
  primary_->flush_now();
  ASSERT_EQ(take_entries(3).size(), 3u);
  EXPECT_EQ(backup_->stats().console_input_bytes, 4u);
  primary_->goodbye("test over");
}

TEST_F(LinksTest, ABackupThatGoesAwayIsDeclaredAtOnce) {
  std::promise<std::string> lost;
  primary_->start([&](const std::string& why) { lost.set_value(why); });
  backup_.reset();  // closes its socket
  auto future = lost.get_future();
  ASSERT_EQ(future.wait_for(2s), std::future_status::ready);
  EXPECT_THAT(future.get(), HasSubstr("closed"));
  EXPECT_TRUE(primary_->lost());
  // A lost link never blocks the vCPU.
  EXPECT_TRUE(primary_->append(replay::HorizonEntry{1}));
}

TEST_F(LinksTest, OutputAfterTheBackupIsLostStaysHeldUntilTheArbiterDecides) {
  std::promise<std::string> lost;
  primary_->start([&](const std::string& why) { lost.set_value(why); });
  backup_->start(nullptr);
  ASSERT_TRUE(primary_->append(replay::HorizonEntry{1}));
  primary_->flush_now();
  take_entries(1);
  backup_.reset();
  ASSERT_EQ(lost.get_future().wait_for(2s), std::future_status::ready);
  // Everything sent was acknowledged; what follows must still wait.
  const uint64_t before = primary_->next_lsn();
  ASSERT_TRUE(primary_->append(replay::HorizonEntry{2}));
  EXPECT_EQ(primary_->next_lsn(), before + 1);
  gate_.hold(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("late\n"), 5),
             primary_->next_lsn());
  EXPECT_EQ(console_.text(), "");
  gate_.open();  // the arbiter said this side runs on
  EXPECT_EQ(console_.text(), "late\n");
}

TEST_F(LinksTest, ACutChannelIsDeclaredOnBothSidesAfterTheTimeout) {
  std::promise<std::string> primary_lost;
  std::promise<std::string> backup_lost;
  primary_->start([&](const std::string& why) { primary_lost.set_value(why); });
  backup_->start([&](const std::string& why) { backup_lost.set_value(why); });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(primary_->lost());  // heartbeats keep an idle channel alive
  primary_->cut();
  auto p = primary_lost.get_future();
  auto b = backup_lost.get_future();
  ASSERT_EQ(p.wait_for(2s), std::future_status::ready);
  ASSERT_EQ(b.wait_for(2s), std::future_status::ready);
  EXPECT_THAT(p.get(), HasSubstr("nothing heard"));
  EXPECT_THAT(b.get(), HasSubstr("nothing heard"));
  EXPECT_TRUE(wait_closed().has_value());
}

TEST_F(LinksTest, TheBackupsReplayCostsReachThePrimarysCostModel) {
  primary_->start(nullptr);
  backup_->start(nullptr);
  // Acks with nothing measured yet leave the defaults in place.
  backup_->report_progress(0, 7);
  ASSERT_TRUE(eventually([&] { return primary_->stats().backup_exit_count == 7; }));
  EXPECT_FALSE(costs_.reported());
  EXPECT_EQ(costs_.current().breakpoint_hit_us, replay::kDefaultReplayCosts.breakpoint_hit_us);

  backup_->report_replay_costs({85.25, 0});  // no checkpoint loaded yet
  ASSERT_TRUE(eventually([&] { return costs_.current().breakpoint_hit_us == 85.25; }));
  EXPECT_TRUE(costs_.reported());
  EXPECT_EQ(costs_.current().checkpoint_load_us, replay::kDefaultReplayCosts.checkpoint_load_us);

  // Sent in whole ns: 412.5004 us travels as 412500 ns. The zero keeps the previous figure.
  backup_->report_replay_costs({0, 412.5004});
  ASSERT_TRUE(eventually([&] { return costs_.current().checkpoint_load_us == 412.5; }));
  EXPECT_EQ(costs_.current().breakpoint_hit_us, 85.25);
  const auto stats = primary_->stats();
  EXPECT_EQ(stats.backup_breakpoint_hit_us, 0.0);  // as the latest ack said
  EXPECT_EQ(stats.backup_checkpoint_load_us, 412.5);
  primary_->goodbye("test over");
}

// The primary reads its exit code from the arbiter's verdict, which the link thread asks for:
// stop() must wait for a decision under way (before, the code read the exit code first and the
// callback outlived the state it wrote to).
TEST_F(LinksTest, StopWaitsForTheDecisionUnderWay) {
  std::atomic<bool> asking{false}, decided{false};
  primary_->start([&](const std::string&) {
    asking.store(true);
    std::this_thread::sleep_for(300ms);  // the arbiter takes its time
    decided.store(true);
  });
  backup_.reset();
  ASSERT_TRUE(eventually([&] { return asking.load(); }));
  primary_->stop();
  EXPECT_TRUE(decided.load()) << "stop() returned while the decision was still under way";
}

// ---- A console whose reader stops ------------------------------------------------------------

// Its first write takes `stall`, as a terminal after Ctrl-S or a pipe into a slow reader.
class StallingConsole final : public ConsoleSink {
 public:
  explicit StallingConsole(std::chrono::milliseconds stall) : stall_(stall) {}
  void write(std::span<const uint8_t> bytes) override {
    if (!stalled_.exchange(true)) std::this_thread::sleep_for(stall_);
    console_.write(bytes);
  }
  std::string text() const { return console_.text(); }

 private:
  std::chrono::milliseconds stall_;
  std::atomic<bool> stalled_{false};
  CollectingConsole console_;
};

// Each side waits for the other's greeting: the backup greets from its own thread.
void greet(PrimaryLink& primary, BackupLink& backup) {
  auto receiving = std::async(std::launch::async, [&] { return backup.receive_hello(2000ms); });
  ASSERT_TRUE(primary.send_hello(Hello{kProtocolVersion, "vm1", 1, {}, {}}));
  ASSERT_TRUE(receiving.get());
}

// Issue 11, item 3: the gate released on the link thread straight into the console, so a
// reader that stopped for a second stopped the acks and heartbeats, and the backup declared a
// healthy primary lost. Released output now waits on the ConsoleWriter's thread.
TEST(SlowConsoleTest, AConsoleThatBlocksForASecondCausesNoDeclare) {
  // Declaring after 400 ms: still well under the console's 1 s stall, and not so short that a
  // loaded 2-core machine's scheduling alone declares (120 ms did, once, with a CI run and an
  // e2e suite beside it).
  const LinkTimeouts timeouts{5ms, 100ms, 400ms};
  StallingConsole console(1000ms);
  ConsoleWriter writer(console);
  OutputGate gate(writer);
  LagTracker lag;
  replay::LogFeed feed;
  auto sockets = connect_pair();
  PrimaryLinkOptions options;
  options.timeouts = timeouts;
  options.delivered_output_bytes = [&writer] { return writer.delivered_bytes(); };
  PrimaryLink primary(std::move(sockets.primary), FrameKey::none(), gate, lag, options);
  BackupLink backup(std::move(sockets.backup), FrameKey::none(), feed, timeouts);
  ASSERT_NO_FATAL_FAILURE(greet(primary, backup));
  std::atomic<bool> primary_lost{false}, backup_lost{false};
  primary.start([&](const std::string&) { primary_lost.store(true); });
  backup.start([&](const std::string&) { backup_lost.store(true); });

  ASSERT_TRUE(primary.append(replay::HorizonEntry{1}));
  gate.hold(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("out\n"), 4),
            primary.next_lsn());
  primary.flush_now();
  std::this_thread::sleep_for(1300ms);  // the stall, and then some
  EXPECT_FALSE(backup_lost.load()) << "the backup declared a primary whose console was slow";
  EXPECT_FALSE(primary_lost.load());
  EXPECT_TRUE(eventually([&] { return console.text() == "out\n"; })) << console.text();
  // What the backup hears as released is what reached the console.
  EXPECT_TRUE(eventually([&] { return backup.released_output_bytes() == 4; }));
  primary.goodbye("test over");
}

// An entry appended to an idle log leaves within the flush interval. Before, the link thread
// slept out its poll (until a heartbeat was due, up to 100 ms) past the entry's flush: an idle
// guest's backup then lagged a heartbeat behind each timer tick (9 ms instead of 2.6 ms on
// the pair's 10 ms heartbeat). Heartbeats of a second here make the difference plain.
TEST(IdleLinkTest, AnEntryAppendedToAnIdleLogLeavesWithinTheFlushInterval) {
  const LinkTimeouts slow_heartbeats{1000ms, 3000ms, 6000ms};
  CollectingConsole console;
  OutputGate gate(console);
  LagTracker lag;
  replay::LogFeed feed;
  auto sockets = connect_pair();
  PrimaryLinkOptions options;
  options.timeouts = slow_heartbeats;
  options.flush_interval = 2ms;
  PrimaryLink primary(std::move(sockets.primary), FrameKey::none(), gate, lag, options);
  BackupLink backup(std::move(sockets.backup), FrameKey::none(), feed, slow_heartbeats);
  ASSERT_NO_FATAL_FAILURE(greet(primary, backup));
  primary.start(nullptr);
  backup.start(nullptr);

  int prompt = 0;
  std::vector<int64_t> waits_ms;
  for (uint64_t exit = 1; exit <= 10; ++exit) {
    std::this_thread::sleep_for(30ms);  // the link thread sleeps in its poll by now
    const auto appended = replay::LogFeed::Clock::now();
    ASSERT_TRUE(primary.append(replay::HorizonEntry{exit}));
    std::vector<replay::LoggedEntry> got;
    while (got.empty() && replay::LogFeed::Clock::now() < appended + 1s) {
      got = feed.wait(appended + 1s).entries;
    }
    ASSERT_EQ(got.size(), 1u);
    const auto waited = replay::LogFeed::Clock::now() - appended;
    waits_ms.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(waited).count());
    if (waited < 20ms) ++prompt;
  }
  // A loaded machine may delay a few; a sleeping link thread delays every one by ~70 ms.
  EXPECT_GE(prompt, 8) << "waits (ms): " << ::testing::PrintToString(waits_ms);
  primary.goodbye("test over");
}

// ---- A backup that lies, or acks that come late -------------------------------------------
//
// The backup end is raw frames here, so a test can send any ack it likes.

uint64_t steady_ns(std::chrono::steady_clock::time_point t) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

class RawBackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto sockets = connect_pair();
    backup_socket_ = std::move(sockets.backup);
    PrimaryLinkOptions options;
    options.timeouts = kFast;
    primary_ = std::make_unique<PrimaryLink>(std::move(sockets.primary), FrameKey::none(), gate_,
                                             lag_, options);
    auto greeting = std::async(std::launch::async, [this] {
      uint64_t sent = 0, read = 0;
      return exchange_greetings({backup_socket_.get(), ChannelRole::kBackup, 2000ms, buffer_},
                                FrameKey::none(), encoder_, decoder_, sent, read);
    });
    ASSERT_TRUE(primary_->send_hello(Hello{kProtocolVersion, "vm1", 1, {1, 2}, {3, 4, 5}}));
    ASSERT_TRUE(greeting.get());
    primary_->start([this](const std::string& why) { lost_.set_value(why); });
    // One entry sent, and output that needs it acknowledged.
    ASSERT_TRUE(primary_->append(replay::HorizonEntry{1}));
    primary_->flush_now();
    gate_.hold(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("out\n"), 4), 1);
  }

  void send_ack(uint64_t received_lsn, std::chrono::steady_clock::time_point echo) {
    const Ack ack{.received_lsn = received_lsn, .echo_sent_ns = steady_ns(echo)};
    ASSERT_TRUE(send_all(backup_socket_.get(), encoder_.encode(ack), 1000ms));
  }

  CollectingConsole console_;
  OutputGate gate_{console_};
  LagTracker lag_;
  UniqueFd backup_socket_;
  FrameEncoder encoder_{FrameKey::none()};
  FrameDecoder decoder_{FrameKey::none()};
  std::vector<uint8_t> buffer_ = std::vector<uint8_t>(4096);
  std::unique_ptr<PrimaryLink> primary_;
  std::promise<std::string> lost_;
};

TEST_F(RawBackupTest, AnAckBeyondTheLsnsSentIsAProtocolErrorAndReleasesNothing) {
  send_ack(UINT64_MAX, std::chrono::steady_clock::now());
  auto lost = lost_.get_future();
  ASSERT_EQ(lost.wait_for(2s), std::future_status::ready);
  EXPECT_THAT(lost.get(), HasSubstr("protocol error: the backup acknowledged"));
  EXPECT_EQ(console_.text(), "");
  EXPECT_EQ(gate_.held_bytes(), 4u);
}

// A primary stalled longer than the backup's declare timeout reads, when it resumes, acks the
// backup sent before the stall: the backup may be live by now, so they must release nothing.
TEST_F(RawBackupTest, AcksForFramesSentBeforeAStallReleaseNothing) {
  send_ack(1, std::chrono::steady_clock::now() - 1s);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(console_.text(), "") << "released on an ack older than the lease";
  EXPECT_FALSE(primary_->lost());
  // A fresh ack for the same log renews the lease: the output leaves.
  send_ack(1, std::chrono::steady_clock::now());
  EXPECT_TRUE(eventually([&] { return console_.text() == "out\n"; })) << console_.text();
}

// A burst of one-byte outputs comes back as a burst of acks: read together, they free their
// outputs in one pass and one write, not one by one while the later outputs wait.
TEST_F(RawBackupTest, AcksReadTogetherReleaseTheirOutputsInOneWrite) {
  ASSERT_TRUE(primary_->append(replay::HorizonEntry{2}));
  primary_->flush_now();
  gate_.hold(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("more\n"), 5), 2);
  const auto now = std::chrono::steady_clock::now();
  auto both = encoder_.encode(Ack{.received_lsn = 1, .echo_sent_ns = steady_ns(now)});
  const auto second = encoder_.encode(Ack{.received_lsn = 2, .echo_sent_ns = steady_ns(now)});
  both.insert(both.end(), second.begin(), second.end());
  ASSERT_TRUE(send_all(backup_socket_.get(), both, 1000ms));
  EXPECT_TRUE(eventually([&] { return console_.text() == "out\nmore\n"; })) << console_.text();
  EXPECT_EQ(console_.writes(), 1);
  EXPECT_EQ(primary_->stats().acked_lsn, 2u);
}

}  // namespace
}  // namespace ftvm::channel
