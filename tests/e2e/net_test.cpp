// The guest on a network (scripts/lab, docs/network.md), on the software CPU so that it runs on
// every machine: `ping` from the lab's client namespace reaches testsvc through a TAP, the
// bridge and virtio-net, and a recording with ping and TCP traffic replays exactly without any
// network; Redis clients through the guest's service, its writes kept on a disk across a
// restart, and through failovers of the pair.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>

#include "subprocess.h"

namespace ftvm {
namespace {

using namespace std::chrono_literals;
using testing::ProcessResult;
using testing::run_process;
using testing::Subprocess;
using testing::TempDir;

// A lab of its own, so that a user's `scripts/lab up` is left alone: namespaces PREFIX and
// PREFIX-client, taps tap0 and tap1, the client at 10.78.0.10.
class Lab {
 public:
  Lab() : prefix_("ftvm-t" + std::to_string(::getpid())) {
    const ProcessResult up = run_process({FTVM_LAB_SCRIPT, "up", "--prefix", prefix_}, "", 60s);
    ok_ = up.exit_code == 0;
    error_ = up.out + up.err;
  }
  ~Lab() { run_process({FTVM_LAB_SCRIPT, "down", "--force", "--prefix", prefix_}, "", 60s); }
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  // argv run inside the lab's namespace (where the taps are) or the client's.
  std::vector<std::string> in_lab(std::vector<std::string> argv) const {
    argv.insert(argv.begin(), {"/usr/bin/env", "ip", "netns", "exec", prefix_});
    return argv;
  }
  // `ftvm pair` on the software CPU with the primary on tap0 and the backup on tap1, run in
  // the lab's namespace; `args` are the rest of its options.
  std::vector<std::string> pair_argv(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {FTVM_BINARY, "pair",  "--accel",
                                     "emu",       "--net", "tap:tap0,tap1"};
    argv.insert(argv.end(), args.begin(), args.end());
    return in_lab(std::move(argv));
  }
  std::vector<std::string> client_argv(std::vector<std::string> argv) const {
    argv.insert(argv.begin(), {"/usr/bin/env", "ip", "netns", "exec", prefix_ + "-client"});
    return argv;
  }
  ProcessResult from_client(std::vector<std::string> argv) const {
    argv.insert(argv.begin(), {"timeout", "60"});
    return run_process(client_argv(std::move(argv)), "", 70s);
  }

 private:
  std::string prefix_;
  bool ok_ = false;
  std::string error_;
};

std::string lab_unavailable() {
  if (::geteuid() != 0) return "needs root to create network namespaces and TAP devices";
  if (::access("/dev/net/tun", R_OK | W_OK) != 0) return "no usable /dev/net/tun";
  return "";
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The replies a finished `ping` counted; -1 if it printed no count.
int replies(const ProcessResult& ping) {
  std::smatch m;
  if (!std::regex_search(ping.out, m, std::regex(R"((\d+) received)"))) return -1;
  return std::stoi(m[1].str());
}

// Pings the guest `count` times; the number of replies.
int ping_replies(const Lab& lab, int count) {
  return replies(lab.from_client(
      {"ping", "-c", std::to_string(count), "-i", "0.2", "-W", "3", "-s", "1000", "10.78.0.2"}));
}

// A number in `ftvm pair --stats-json`'s output; -1 if it is not there.
int stat(const std::string& stats, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(stats, m, std::regex("\"" + key + R"(":\s*(\d+))"))) return -1;
  return std::stoi(m[1].str());
}

class NetLabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string reason = lab_unavailable(); !reason.empty()) GTEST_SKIP() << reason;
    lab_ = std::make_unique<Lab>();
    ASSERT_TRUE(lab_->ok()) << lab_->error();
  }
  std::unique_ptr<Lab> lab_;
  TempDir dir_{"ftvm-net"};
};

TEST_F(NetLabTest, TheGuestAnswersPingThroughItsTap) {
  Subprocess vm(
      lab_->in_lab({FTVM_BINARY, "run", "--accel", "emu", "--net", "tap:tap0", "--seconds", "60"}));
  ASSERT_TRUE(vm.wait_for_stdout("testsvc: up", 30s)) << vm.stderr_so_far();
  EXPECT_EQ(ping_replies(*lab_, 5), 5);
  vm.write_stdin("net\n");
  EXPECT_TRUE(vm.wait_for_stdout("> net mac=02:46:54:56:4d:01 ip=10.78.0.2", 30s))
      << vm.stdout_so_far();
  const std::string out = vm.stdout_so_far();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(rx=(\d+) tx=(\d+) dropped=(\d+))"))) << out;
  EXPECT_GE(std::stoi(m[1].str()), 6);  // an ARP request and five echo requests at least
  EXPECT_GE(std::stoi(m[2].str()), 6);
  vm.write_stdin("shutdown\n");
  const ProcessResult r = vm.finish(30s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(NetLabTest, ARecordingWithNetworkTrafficReplaysExactly) {
  Subprocess recorder(
      lab_->in_lab({FTVM_BINARY, "record", "--accel", "emu", "--net", "tap:tap0", "--trace",
                    dir_.path("trace"), "--console", dir_.path("record.txt"), "--seconds", "60"}));
  // The console goes to a file here; the guest is up once its banner is there.
  for (int i = 0;
       i < 300 && slurp(dir_.path("record.txt")).find("testsvc: up") == std::string::npos; ++i) {
    recorder.read_output_for(100ms);
  }
  ASSERT_NE(slurp(dir_.path("record.txt")).find("testsvc: up"), std::string::npos)
      << recorder.stderr_so_far();
  EXPECT_EQ(ping_replies(*lab_, 8), 8);
  // TCP too: a short benchmark on the guest's service, its segments logged like the pings.
  const ProcessResult bench = lab_->from_client(
      {"redis-benchmark", "-h", "10.78.0.2", "-t", "set,incr", "-n", "300", "-c", "2", "-q"});
  EXPECT_EQ(bench.exit_code, 0) << bench.out << bench.err;
  recorder.write_stdin("net\n");
  recorder.read_output_for(1s);
  recorder.write_stdin("shutdown\n");
  const ProcessResult recorded = recorder.finish(60s);
  ASSERT_EQ(recorded.exit_code, 0) << recorded.err;
  const std::string console = slurp(dir_.path("record.txt"));
  ASSERT_NE(console.find("> net mac="), std::string::npos) << console;

  const ProcessResult stats =
      run_process({FTVM_BINARY, "trace", "stats", dir_.path("trace")}, "", 60s);
  EXPECT_NE(stats.out.find("net-frame"), std::string::npos) << stats.out << stats.err;

  // No namespace, no TAP: every received frame comes from the log.
  const ProcessResult replayed = run_process(
      {FTVM_BINARY, "replay", "--trace", dir_.path("trace"), "--console", dir_.path("replay.txt")},
      "", 300s);
  EXPECT_EQ(replayed.exit_code, 0) << replayed.err;
  EXPECT_NE(replayed.err.find("identical registers and RAM"), std::string::npos) << replayed.err;
  EXPECT_EQ(slurp(dir_.path("replay.txt")), console);
}

// The pair on the lab's network: the primary on tap0, the backup standing by on tap1. The
// primary is killed while the client pings; the backup goes live, announces the guest's MAC,
// and the pings go on being answered.
TEST_F(NetLabTest, PingsGoOnBeingAnsweredAcrossAFailover) {
  Subprocess pair(lab_->pair_argv({"--seconds", "30", "--kill-primary-after", "6", "--run-dir",
                                   dir_.path("run"), "--stats-json", dir_.path("pair.json")}));
  ASSERT_TRUE(pair.wait_for_stdout("testsvc: up", 30s)) << pair.stderr_so_far();
  // 40 pings over 8 s: the kill comes in the middle.
  const ProcessResult ping =
      lab_->from_client({"ping", "-c", "40", "-i", "0.2", "-W", "2", "10.78.0.2"});
  EXPECT_TRUE(pair.wait_for_stderr("the network is live on tap1", 30s)) << pair.stderr_so_far();
  // A ping or two may fall into the failover; the rest are answered, by either side.
  EXPECT_GE(replies(ping), 36) << ping.out;
  pair.send_signal(SIGINT);
  const ProcessResult r = pair.finish(60s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("pair: failover:"), std::string::npos) << r.err;
}

// Failover after failover: each backup that went live takes a new backup (on the TAP the dead
// primary had), which takes over in turn; the client's pings go on being answered throughout.
TEST_F(NetLabTest, PingsGoOnThroughFailoversWithANewBackupJoinedAfterEach) {
  Subprocess pair(lab_->pair_argv({"--seconds", "40", "--kill-primary-every", "3", "--run-dir",
                                   dir_.path("run"), "--stats-json", dir_.path("pair.json")}));
  ASSERT_TRUE(pair.wait_for_stdout("testsvc: up", 30s)) << pair.stderr_so_far();
  // 70 pings over 14 s: at least two kills fall in them.
  const ProcessResult ping =
      lab_->from_client({"ping", "-c", "70", "-i", "0.2", "-W", "2", "10.78.0.2"});
  // The second backup joined the first one that went live, and went live on the other TAP.
  EXPECT_TRUE(pair.wait_for_stderr("backup 2 is the primary now", 30s)) << pair.stderr_so_far();
  pair.send_signal(SIGINT);
  const ProcessResult r = pair.finish(60s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("the network is live on tap0"), std::string::npos) << r.err;
  // A ping or two may fall into each failover; the rest are answered, by whichever side runs.
  EXPECT_GE(replies(ping), 62) << ping.out;
  const std::string stats = slurp(dir_.path("pair.json"));
  EXPECT_GE(stat(stats, "backups_promoted"), 2) << stats;
  EXPECT_GE(stat(stats, "backups_joined"), 2) << stats;
}

// The guest's Redis-protocol service (testsvc/README.md, "TCP and the service") with clients
// written by other people: redis-cli, then redis-benchmark.
TEST_F(NetLabTest, RedisClientsTalkToTheGuestsService) {
  Subprocess vm(lab_->in_lab(
      {FTVM_BINARY, "run", "--accel", "emu", "--net", "tap:tap0", "--seconds", "120"}));
  ASSERT_TRUE(vm.wait_for_stdout("testsvc: up", 30s)) << vm.stderr_so_far();
  const auto cli = [this](std::vector<std::string> words) {
    std::vector<std::string> argv = {"redis-cli", "-h", "10.78.0.2"};
    argv.insert(argv.end(), words.begin(), words.end());
    const ProcessResult r = lab_->from_client(argv);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  };
  EXPECT_EQ(cli({"PING"}), "PONG\n");
  EXPECT_EQ(cli({"SET", "greeting", "hello world"}), "OK\n");
  EXPECT_EQ(cli({"GET", "greeting"}), "hello world\n");
  EXPECT_EQ(cli({"INCR", "n"}), "1\n");
  EXPECT_EQ(cli({"INCRBY", "n", "41"}), "42\n");
  EXPECT_EQ(cli({"GET", "missing"}), "\n");
  EXPECT_NE(cli({"NOSUCHCOMMAND"}).find("ERR unknown command"), std::string::npos);
  const ProcessResult bench =
      lab_->from_client({"redis-benchmark", "-h", "10.78.0.2", "-t", "ping,set,get,incr", "-n",
                         "2000", "-c", "4", "--csv"});
  EXPECT_EQ(bench.exit_code, 0) << bench.out << bench.err;
  for (const char* test : {"PING_INLINE", "PING_MBULK", "SET", "GET", "INCR"}) {
    EXPECT_NE(bench.out.find(std::string("\"") + test + "\""), std::string::npos)
        << test << " missing:\n"
        << bench.out << bench.err;
  }
  EXPECT_EQ(bench.err.find("ERR"), std::string::npos) << bench.err;
  vm.write_stdin("shutdown\n");
  EXPECT_EQ(vm.finish(30s).exit_code, 0);
}

// The service's append-only log on the guest's disk (testsvc/README.md, "TCP and the service"):
// what redis-cli wrote is there again after the VM is shut down and booted anew on the same
// image, replayed before the service answers.
TEST_F(NetLabTest, RedisWritesSurviveARestartOnTheSameDisk) {
  const std::string image = dir_.path("disk.img");
  constexpr size_t kImageBytes = 4 << 20;  // 8192 sectors: the log is sectors 4096..8191
  std::ofstream(image, std::ios::binary).write(std::string(kImageBytes, '\0').data(), kImageBytes);
  const std::vector<std::string> argv =
      lab_->in_lab({FTVM_BINARY, "run", "--accel", "emu", "--net", "tap:tap0", "--disk", image,
                    "--seconds", "60"});
  const auto cli = [this](std::vector<std::string> words) {
    std::vector<std::string> command = {"redis-cli", "-h", "10.78.0.2"};
    command.insert(command.end(), words.begin(), words.end());
    const ProcessResult r = lab_->from_client(command);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  };
  {
    Subprocess vm(argv);
    ASSERT_TRUE(vm.wait_for_stdout("testsvc: up", 30s)) << vm.stderr_so_far();
    EXPECT_EQ(cli({"SET", "k", "v"}), "OK\n");
    for (int n = 1; n <= 3; ++n) EXPECT_EQ(cli({"INCR", "n"}), std::to_string(n) + "\n");
    EXPECT_EQ(cli({"SET", "gone", "soon"}), "OK\n");
    EXPECT_EQ(cli({"DEL", "gone"}), "1\n");
    vm.write_stdin("disk\n");
    EXPECT_TRUE(vm.wait_for_stdout("log_replayed=0 log_appended=6 log_sectors=6/4096", 30s))
        << vm.stdout_so_far();
    vm.write_stdin("shutdown\n");
    const ProcessResult r = vm.finish(30s);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  // The first record, where the log starts, as another reader of the image sees it.
  const std::string bytes = slurp(image);
  ASSERT_EQ(bytes.size(), kImageBytes);
  EXPECT_EQ(bytes.substr(4096 * 512, 8), "FTVMLOG1");
  {
    Subprocess vm(argv);
    ASSERT_TRUE(vm.wait_for_stdout("testsvc: up", 30s)) << vm.stderr_so_far();
    EXPECT_EQ(cli({"GET", "k"}), "v\n");
    EXPECT_EQ(cli({"GET", "n"}), "3\n");
    EXPECT_EQ(cli({"EXISTS", "gone"}), "0\n");
    EXPECT_EQ(cli({"INCR", "n"}), "4\n");
    vm.write_stdin("disk\n");
    EXPECT_TRUE(vm.wait_for_stdout("log_replayed=6 log_appended=1 log_sectors=7/4096", 30s))
        << vm.stdout_so_far();
    vm.write_stdin("shutdown\n");
    EXPECT_EQ(vm.finish(30s).exit_code, 0);
  }
}

// VMware FT's promise, checked by clients: while the primary is killed at a random moment,
// redis-benchmark finishes with no error, and connections working on the guest's service see no
// acknowledged write lost or doubled and need no reconnect (tests/e2e/tools/redis_history.py).
// Ten trials, as the network issue asks of CI (about 14 s each here).
TEST_F(NetLabTest, AFailoverLosesNoAcknowledgedRedisWrite) {
  constexpr int kTrials = 10;
  std::mt19937 random(20261202);
  for (int trial = 0; trial < kTrials; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    const double kill_after = std::uniform_real_distribution<double>(4, 7)(random);
    Subprocess pair(
        lab_->pair_argv({"--seconds", "60", "--kill-primary-after", std::to_string(kill_after),
                         "--run-dir", dir_.path("run" + std::to_string(trial))}));
    ASSERT_TRUE(pair.wait_for_stdout("testsvc: up", 30s)) << pair.stderr_so_far();
    Subprocess bench(lab_->client_argv({"timeout", "120", "redis-benchmark", "-h", "10.78.0.2",
                                        "-t", "set,get,incr", "-n", "4000", "-c", "4", "-q"}));
    const ProcessResult history =
        lab_->from_client({"/usr/bin/python3", FTVM_REDIS_HISTORY, "10.78.0.2", "--connections",
                           "4", "--seconds", "8"});
    const ProcessResult benchmark = bench.finish(150s);
    EXPECT_EQ(benchmark.exit_code, 0) << benchmark.out << benchmark.err;
    EXPECT_EQ(benchmark.out.find("ERR"), std::string::npos) << benchmark.out;
    EXPECT_EQ(history.exit_code, 0) << history.out << history.err;
    EXPECT_NE(history.out.find("\"violations\": []"), std::string::npos) << history.out;
    EXPECT_NE(history.out.find("\"reconnects\": 0,"), std::string::npos) << history.out;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(history.out, m, std::regex(R"("requests": (\d+))")))
        << history.out;
    EXPECT_GT(std::stoi(m[1].str()), 100) << history.out;
    std::printf("trial %d, kill at %.1f s: %s", trial, kill_after, history.out.c_str());
    pair.send_signal(SIGINT);
    const ProcessResult r = pair.finish(60s);
    EXPECT_NE(r.err.find("pair: failover:"), std::string::npos) << r.err;
  }
}

// UTC "2026-12-02T10:46:37.378Z" -> seconds since the epoch.
double utc_seconds(const std::string& stamp) {
  std::tm tm{};
  ::strptime(stamp.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  return static_cast<double>(::timegm(&tm)) + std::stod(stamp.substr(19, 4));
}

// A split brain on the network: the channel is cut while the client pings; exactly one side
// wins, and the one that lost puts no frame on its TAP after it learned so (frames counted on
// both taps by a packet socket, with the kernel's timestamps). The winner goes on answering.
TEST_F(NetLabTest, TheSideThatLostSendsNoFrameAfterTheArbitersAnswer) {
  for (int trial = 0; trial < 2; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    Subprocess sniffer(
        lab_->in_lab({"/usr/bin/python3", FTVM_TAP_SNIFFER, "--seconds", "40", "tap0", "tap1"}));
    ASSERT_TRUE(sniffer.wait_for_stdout("listening", 10s)) << sniffer.stderr_so_far();
    Subprocess pair(
        lab_->pair_argv({"--seconds", "30", "--cut-channel-after", std::to_string(4 + trial),
                         "--run-dir", dir_.path("run" + std::to_string(trial))}));
    ASSERT_TRUE(pair.wait_for_stdout("testsvc: up", 30s)) << pair.stderr_so_far();
    const ProcessResult ping =
        lab_->from_client({"ping", "-c", "40", "-i", "0.25", "-W", "1", "10.78.0.2"});
    pair.send_signal(SIGINT);
    const ProcessResult r = pair.finish(60s);
    sniffer.send_signal(SIGTERM);
    const ProcessResult frames = sniffer.finish(10s);

    std::smatch won;
    std::smatch lost;
    ASSERT_TRUE(std::regex_search(r.err, won, std::regex(R"(\[(\S+)\] (primary|backup): WON)")))
        << r.err;
    ASSERT_TRUE(
        std::regex_search(r.err, lost, std::regex(R"(\[(\S+)\] (primary|backup): LOST the arb)")))
        << r.err;
    EXPECT_NE(won[2].str(), lost[2].str());
    const std::string loser_tap = lost[2].str() == "primary" ? "tap0" : "tap1";
    const std::string winner_tap = loser_tap == "tap0" ? "tap1" : "tap0";
    // The log's milliseconds are cut, not rounded: a frame in the same millisecond is before.
    const double lost_at = utc_seconds(lost[1].str()) + 0.001;
    const double won_at = utc_seconds(won[1].str());
    int late = 0;
    int winner_after = 0;
    std::istringstream lines(frames.out);
    for (std::string line; std::getline(lines, line);) {
      std::istringstream words(line);
      double stamp = 0;
      std::string tap;
      if (!(words >> stamp >> tap)) continue;
      if (tap == loser_tap && stamp > lost_at) ++late;
      if (tap == winner_tap && stamp > won_at) ++winner_after;
    }
    EXPECT_EQ(late, 0) << "the " << lost[2].str() << " sent frames after losing:\n" << frames.out;
    EXPECT_GT(winner_after, 0) << "the winner answered nothing:\n" << frames.out << ping.out;
  }
}

TEST(NetOptionsTest, APairNeedsOneTapPerSide) {
  const ProcessResult r = run_process(
      {FTVM_BINARY, "pair", "--accel", "emu", "--net", "tap:tap0", "--seconds", "1"}, "", 30s);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("tap:PRIMARY_TAP,BACKUP_TAP"), std::string::npos) << r.err;
}

TEST(NetOptionsTest, BadNetAndMacOptionsAreClearErrors) {
  const ProcessResult what = run_process(
      {FTVM_BINARY, "run", "--accel", "emu", "--net", "vde:x", "--seconds", "1"}, "", 30s);
  EXPECT_NE(what.exit_code, 0);
  EXPECT_NE(what.err.find("tap:NAME"), std::string::npos) << what.err;
  const ProcessResult mac = run_process({FTVM_BINARY, "run", "--accel", "emu", "--net", "tap:t0",
                                         "--mac", "01:02:03:04:05:06", "--seconds", "1"},
                                        "", 30s);
  EXPECT_NE(mac.exit_code, 0);
  EXPECT_NE(mac.err.find("multicast"), std::string::npos) << mac.err;
}

}  // namespace
}  // namespace ftvm
