// `ftvm disk-server` end to end: decisions made through the client library survive a clean
// restart and a SIGKILL of the server; bad set-ups fail with clear messages. And `ftvm status`
// against a control socket.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "disk/arbiter_client.h"
#include "disk/tcp_listener.h"
#include "pair/control_server.h"
#include "subprocess.h"
#include "temp_dir.h"

namespace ftvm {
namespace {

using namespace std::chrono_literals;
using testing::ProcessResult;
using testing::run_process;
using testing::Subprocess;

constexpr int kExitUsage = 1;
constexpr int kExitSetup = 2;

// A fresh temp directory with `path(name)` for the files in it.
class TempDir {
 public:
  std::string path(const std::string& name = "") const { return (dir_.path() / name).string(); }

 private:
  disk::testing::TempDir dir_;
};

// Runs ftvm to completion with these arguments.
ProcessResult ftvm(std::vector<std::string> args) {
  args.insert(args.begin(), FTVM_BINARY);
  return run_process(args, "", 10s);
}

// Starts `ftvm disk-server`, expecting it to refuse with `code` and `message` on stderr.
void expect_refusal(const std::string& listen, const std::string& state_dir, int code,
                    const std::string& message) {
  const ProcessResult result = ftvm({"disk-server", "--listen", listen, "--state-dir", state_dir});
  EXPECT_EQ(result.exit_code, code) << result.err;
  EXPECT_NE(result.err.find(message), std::string::npos) << result.err;
}

// ftvm with its stderr on stdout, which Subprocess can wait on.
std::vector<std::string> ftvm_merged(std::vector<std::string> args) {
  std::vector<std::string> argv = {"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1", FTVM_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// A running `ftvm disk-server` on a port of its choosing.
class DiskServer {
 public:
  explicit DiskServer(const std::string& state_dir, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"disk-server", "--state-dir", state_dir};
    if (extra.empty()) extra = {"--listen", "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    process_ = std::make_unique<Subprocess>(ftvm_merged(args));
    EXPECT_TRUE(process_->wait_for_stdout(" (state in ", 10s)) << process_->stdout_so_far();
    std::smatch match;
    const std::string& out = process_->stdout_so_far();
    static const std::regex listening("arbiter: listening on (\\S+) ");
    if (std::regex_search(out, match, listening)) address_ = match[1];
  }
  const std::string& address() const { return address_; }
  Subprocess& process() { return *process_; }
  ProcessResult stop(int signal) {
    process_->send_signal(signal);
    return process_->finish(10s);
  }

 private:
  std::unique_ptr<Subprocess> process_;
  std::string address_;
};

// One process per side name in these tests, so a side that asks again is the same process.
disk::TasOutcome tas(const std::string& address, uint64_t generation, const std::string& side) {
  const std::string incarnation = side == "primary" ? "00000000000000a1" : "00000000000000b1";
  auto outcome = disk::test_and_set(address, {}, {"pair-vm", generation, side, incarnation}, 3s);
  EXPECT_TRUE(outcome.ok()) << outcome.error().message;
  return outcome.ok() ? *outcome : disk::TasOutcome{};
}

TEST(DiskServerTest, DecisionsSurviveARestart) {
  TempDir dir;
  {
    DiskServer server(dir.path("state"));
    ASSERT_FALSE(server.address().empty());
    EXPECT_TRUE(tas(server.address(), 1, "backup").won);
    const ProcessResult stopped = server.stop(SIGTERM);
    EXPECT_EQ(stopped.exit_code, 0) << stopped.out;
    EXPECT_NE(stopped.out.find("arbiter: vm pair-vm generation 1: backup WON"), std::string::npos)
        << stopped.out;
    EXPECT_NE(stopped.out.find("arbiter: stopped"), std::string::npos) << stopped.out;
  }
  DiskServer restarted(dir.path("state"));
  const disk::TasOutcome lost = tas(restarted.address(), 1, "primary");
  EXPECT_FALSE(lost.won);
  EXPECT_EQ(lost.winner, "backup");
  EXPECT_EQ(lost.generation, 1u);
  EXPECT_TRUE(tas(restarted.address(), 1, "backup").won);  // the winner's retry
  const ProcessResult stopped = restarted.stop(SIGINT);
  EXPECT_EQ(stopped.exit_code, 0);
  EXPECT_NE(stopped.out.find("arbiter: vm pair-vm generation 1: primary LOST (winner backup)"),
            std::string::npos)
      << stopped.out;
}

TEST(DiskServerTest, DecisionsSurviveSigkill) {
  TempDir dir;
  {
    DiskServer server(dir.path("state"));
    EXPECT_TRUE(tas(server.address(), 7, "backup").won);
    EXPECT_EQ(server.stop(SIGKILL).signal, SIGKILL);
  }
  DiskServer restarted(dir.path("state"));
  auto winner = disk::query(restarted.address(), {}, "pair-vm", 3s);
  ASSERT_TRUE(winner.ok()) << winner.error().message;
  ASSERT_TRUE(winner->has_value());
  EXPECT_EQ(**winner, (disk::Winner{"backup", 7, ""}));
  EXPECT_FALSE(tas(restarted.address(), 7, "primary").won);
  EXPECT_FALSE(tas(restarted.address(), 6, "backup").won);  // stale
}

// Seen before: a second process naming the winning side (another connection, or a second pair
// reusing the VM id and generation) was told WON too, and so was a side after the arbiter
// restarted: two live copies of one VM.
TEST(DiskServerTest, OnlyTheWinningProcessWinsAgainAcrossARestart) {
  TempDir dir;
  DiskServer server(dir.path("state"));
  EXPECT_TRUE(tas(server.address(), 1, "backup").won);
  auto other =
      disk::test_and_set(server.address(), {}, {"pair-vm", 1, "backup", "00000000000000b2"}, 3s);
  ASSERT_TRUE(other.ok()) << other.error().message;
  EXPECT_FALSE(other->won) << "a second process of the backup won its generation too";
  server.stop(SIGTERM);
  DiskServer restarted(dir.path("state"));
  other =
      disk::test_and_set(restarted.address(), {}, {"pair-vm", 1, "backup", "00000000000000b3"}, 3s);
  ASSERT_TRUE(other.ok()) << other.error().message;
  EXPECT_FALSE(other->won);
  EXPECT_TRUE(tas(restarted.address(), 1, "backup").won) << "the winning process's retry";
}

// A side started for a generation the arbiter already decided could never fail over: it says so
// and stops before it builds anything (so this runs without KVM).
TEST(DiskServerTest, ASideRefusesAGenerationAlreadyDecided) {
  TempDir dir;
  DiskServer server(dir.path("state"));
  EXPECT_TRUE(tas(server.address(), 3, "backup").won);
  for (const char* side : {"primary", "backup"}) {
    std::vector<std::string> argv = {FTVM_BINARY, side,      "--arbiter",    server.address(),
                                     "--vm-id",   "pair-vm", "--generation", "3"};
    if (std::string(side) == "backup") argv.insert(argv.end(), {"--connect", "127.0.0.1:9"});
    const ProcessResult r = run_process(argv, "", 20s);
    EXPECT_EQ(r.exit_code, 2) << side << ": " << r.err;
    EXPECT_NE(r.err.find("VM pair-vm generation 3 is already decided"), std::string::npos)
        << side << ": " << r.err;
    EXPECT_NE(r.err.find("--generation 4"), std::string::npos) << side << ": " << r.err;
  }
}

TEST(DiskServerTest, ServesAnInheritedListeningSocket) {
  TempDir dir;
  auto listener = disk::listen_tcp("127.0.0.1:0");
  ASSERT_TRUE(listener.ok()) << listener.error().message;
  const std::string address = *disk::local_address(listener->get());
  ::fcntl(listener->get(), F_SETFD, 0);  // let the child inherit it
  DiskServer server(dir.path("state"), {"--listen-fd", std::to_string(listener->get())});
  listener->reset();
  EXPECT_EQ(server.address(), address);
  EXPECT_TRUE(disk::ping(address, 3s).ok());
  EXPECT_EQ(server.stop(SIGTERM).exit_code, 0);
}

TEST(DiskServerTest, RefusesARemoteAddressWithoutAllowRemote) {
  TempDir dir;
  expect_refusal("0.0.0.0:0", dir.path("state"), kExitUsage, "without a --key-file");
  expect_refusal("0.0.0.0:0", dir.path("state"), kExitUsage, "pass --allow-remote");
}

TEST(DiskServerTest, APortInUseIsAClearError) {
  TempDir dir;
  DiskServer first(dir.path("first"));
  expect_refusal(first.address(), dir.path("second"), kExitSetup, "the port is in use");
}

TEST(DiskServerTest, ACorruptStateFileStopsTheServer) {
  TempDir dir;
  std::filesystem::create_directories(dir.path("state"));
  std::ofstream(dir.path("state/arbiter.state")) << "ftvm-arbiter-state 1\nvm x 1 backup\n";
  expect_refusal("127.0.0.1:0", dir.path("state"), kExitSetup, "is corrupt");
}

TEST(DiskServerTest, AStateDirThatIsAFileIsAClearError) {
  TempDir dir;
  std::ofstream(dir.path("file")) << "x";
  expect_refusal("127.0.0.1:0", dir.path("file"), kExitSetup, "--state-dir");
}

TEST(StatusCommandTest, PrintsASideStatus) {
  TempDir dir;
  const std::string socket = dir.path("side.sock");
  auto side = ControlServer::start(
      socket, {{"status",
                [](const std::string&) {
                  return std::string(R"({"role":"backup","channel":{"lag":3,"peer":"up"}})");
                }},
               {"cut-channel", [](const std::string& args) { return "cut " + args; }}});
  ASSERT_TRUE(side.ok()) << side.error().message;

  const ProcessResult human = ftvm({"status", "--control", socket});
  EXPECT_EQ(human.exit_code, 0) << human.err;
  EXPECT_EQ(human.out, "channel.lag: 3\nchannel.peer: up\nrole: backup\n");
  const ProcessResult json = ftvm({"status", "--control", socket, "--json"});
  EXPECT_EQ(json.out, "{\"role\":\"backup\",\"channel\":{\"lag\":3,\"peer\":\"up\"}}\n");
  const ProcessResult cut = ftvm({"status", "--control", socket, "--command", "cut-channel 2s"});
  EXPECT_EQ(cut.out, "cut 2s\n");
  const ProcessResult unknown = ftvm({"status", "--control", socket, "--command", "nope"});
  EXPECT_EQ(unknown.exit_code, kExitSetup);
  EXPECT_NE(unknown.err.find("unknown command 'nope'"), std::string::npos) << unknown.err;
}

TEST(StatusCommandTest, SaysWhenNoSideIsRunning) {
  TempDir dir;
  const ProcessResult result = ftvm({"status", "--control", dir.path("none.sock")});
  EXPECT_EQ(result.exit_code, kExitSetup);
  EXPECT_NE(result.err.find("no ftvm side is running with control socket"), std::string::npos)
      << result.err;
}

}  // namespace
}  // namespace ftvm
