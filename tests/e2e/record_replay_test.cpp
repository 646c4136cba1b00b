// `ftvm record` / `ftvm replay` / `ftvm trace` end to end with the testsvc guest: recordings
// with console input typed at random moments replay exactly (same console output, same final
// registers and RAM, no divergence) in every landmark mode, and a trace with one input changed
// is reported as divergent.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>

#include "kvm_gate.h"
#include "replay/trace_files.h"
#include "subprocess.h"

namespace ftvm {
namespace {

using namespace std::chrono_literals;
using testing::ProcessResult;
using testing::run_process;
using testing::Subprocess;

constexpr int kExitDivergence = 5;

class TraceDir {
 public:
  TraceDir() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("ftvm-rr-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TraceDir() { std::filesystem::remove_all(path_); }
  std::string path(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

struct Recording {
  ProcessResult process;
  std::string console;
};

// Polls the console file until it holds `needle`, keeping the recorder's pipes drained.
bool wait_for_console(Subprocess& recorder, const std::string& path, const std::string& needle,
                      std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (slurp(path).find(needle) == std::string::npos) {
    if (recorder.exited() || std::chrono::steady_clock::now() > deadline) return false;
    recorder.read_output_for(50ms);
  }
  return true;
}

// Records testsvc, typing commands at random moments for `seconds` (seeded, so a failure can be
// rerun with the same schedule), then stops the recording with SIGTERM. The schedule starts
// once the guest is up and the stop waits for a command's answer: in the KVM test box (nested
// under an emulator) a boot can take most of a fixed-length recording, and a recording that
// ended before the guest read its input (seen in CI) tests nothing.
Recording record(const TraceDir& dir, double seconds, std::vector<std::string> extra,
                 unsigned seed) {
  std::vector<std::string> argv = {FTVM_BINARY,       "record",    "--trace",
                                   dir.path("trace"), "--console", dir.path("record.txt")};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Subprocess recorder(argv);
  const std::string console = dir.path("record.txt");
  const bool up = wait_for_console(recorder, console, "testsvc: up", 120s);
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> pause_ms(150, 1200);
  const char* commands[] = {"stats", "digest", "echo ", "help"};
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int>(seconds * 1000) - 1500);
  for (int i = 0; up && std::chrono::steady_clock::now() < deadline; ++i) {
    recorder.read_output_for(std::chrono::milliseconds(pause_ms(random)));
    std::string command = commands[random() % 4];
    if (command == "echo ") command += "typed-" + std::to_string(i);
    recorder.write_stdin(command + "\n");
  }
  if (up) {
    wait_for_console(recorder, console, "> ", 60s);
    recorder.read_output_for(1500ms);
  }
  recorder.send_signal(SIGTERM);
  Recording recording{recorder.finish(60s), {}};
  recording.console = slurp(console);
  return recording;
}

ProcessResult replay(const TraceDir& dir, const std::string& console_name) {
  return run_process({FTVM_BINARY, "replay", "--trace", dir.path("trace"), "--console",
                      dir.path(console_name), "--stats-json", dir.path(console_name + ".json")},
                     "", 300s);
}

void expect_exact_replay(const TraceDir& dir, const Recording& recording, const std::string& name) {
  ProcessResult r = replay(dir, name);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("identical registers and RAM"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(dir.path(name)), recording.console) << "replayed console output differs";
}

void expect_recorded_with_input(const Recording& recording) {
  ASSERT_EQ(recording.process.exit_code, 0) << recording.process.err;
  EXPECT_NE(recording.console.find("> "), std::string::npos) << "no command was answered:\n"
                                                             << recording.console;
  EXPECT_NE(recording.console.find("status tick="), std::string::npos) << recording.console;
}

// The tests that hold on every backend run on each: KVM where /dev/kvm is usable (skipped with
// the reason where it is not), and the software CPU everywhere.
class RecordReplayOn : public testing::OnEachBackend {
 protected:
  std::vector<std::string> on_backend(std::vector<std::string> extra = {}) const {
    extra.insert(extra.begin(), {"--accel", GetParam()});
    return extra;
  }
};

FTVM_ON_EACH_BACKEND(RecordReplayOn);

TEST_P(RecordReplayOn, TenSecondsWithTypedInputReplayExactlyThreeTimes) {
  TraceDir dir;
  Recording recording = record(dir, 10, on_backend(), 1);
  expect_recorded_with_input(recording);
  for (int i = 0; i < 3; ++i) expect_exact_replay(dir, recording, "replay" + std::to_string(i));
  // Asynchronous landmarks really happened (the compute thread keeps the CPU busy): on KVM
  // (without breakpoints at CPL3) checkpoints, on the software CPU counted ones.
  auto stats = nlohmann::json::parse(slurp(dir.path("replay0.json")));
  EXPECT_GT(stats["replay"][GetParam() == "kvm" ? "checkpoint" : "counted"].get<uint64_t>(), 0u)
      << stats.dump(2);
  // RAM digests every 500 ms, or further apart where one costs more than a ninth of that (a
  // slow host: the recorder paces them by their cost; in the KVM test box beside another test,
  // a 10 s recording once had only 2).
  EXPECT_GE(stats["replay"]["memory_digests_checked"].get<uint64_t>(), 2u) << stats.dump(2);
}

// --async auto reads the host probe: where this KVM reports no breakpoints (kvm_amd nested under
// QEMU 7.2), it says so and checkpoints without probing; where it reports them, it says
// nothing of the kind. Exact either way.
TEST(RecordReplay, AutoFollowsWhatTheHostProbeMeasured) {
  FTVM_REQUIRE_KVM();
  const ProcessResult info = run_process({FTVM_BINARY, "host-info", "--json"}, "", 30s);
  ASSERT_EQ(info.exit_code, 0) << info.err;
  const bool breakpoints =
      nlohmann::json::parse(info.out)["guest_debug"]["breakpoint_cpl0"].get<bool>();
  TraceDir dir;
  Recording recording =
      record(dir, 4, {"--accel", "kvm", "--async", "auto", "--stats-json", dir.path("r.json")}, 9);
  expect_recorded_with_input(recording);
  const bool said =
      recording.process.err.find("reports no hardware breakpoints") != std::string::npos;
  EXPECT_EQ(said, !breakpoints) << recording.process.err;
  if (!breakpoints) {
    const auto stats = nlohmann::json::parse(slurp(dir.path("r.json")));
    EXPECT_EQ(stats["landmarks"]["probes"].get<uint64_t>(), 0u) << stats.dump(2);
    EXPECT_EQ(stats["landmarks"]["breakpoint"].get<uint64_t>(), 0u) << stats.dump(2);
  }
  expect_exact_replay(dir, recording, "replay");
}

TEST_P(RecordReplayOn, MaxDelayZeroReplaysExactly) {
  TraceDir dir;
  Recording recording = record(dir, 5, on_backend({"--max-delay", "0"}), 2);
  expect_recorded_with_input(recording);
  expect_exact_replay(dir, recording, "replay");
}

// On the software CPU too: its checkpoints hold the FPU, its debug registers, the MSRs Unicorn
// offers and the pages its write hook logged.
TEST_P(RecordReplayOn, ForcedCheckpointLandmarksReplayExactly) {
  TraceDir dir;
  Recording recording = record(dir, 5, on_backend({"--async", "checkpoint"}), 3);
  expect_recorded_with_input(recording);
  expect_exact_replay(dir, recording, "replay");
  auto stats = nlohmann::json::parse(slurp(dir.path("replay.json")));
  EXPECT_GT(stats["replay"]["checkpoint"].get<uint64_t>(), 0u) << stats.dump(2);
  EXPECT_EQ(stats["replay"]["counted"].get<uint64_t>(), 0u) << stats.dump(2);
}

// On this host hardware breakpoints do not fire in CPL3 code, where testsvc's compute thread
// runs: a forced breakpoint landmark there cannot be found. The replay must then say so (a
// divergence report), never finish as if it were exact with different output.
TEST(RecordReplay, ForcedBreakpointLandmarksAreExactOrReportedAsDivergence) {
  FTVM_REQUIRE_KVM();
  TraceDir dir;
  Recording recording = record(dir, 5, {"--accel", "kvm", "--async", "breakpoint"}, 4);
  expect_recorded_with_input(recording);
  ProcessResult r = replay(dir, "replay");
  if (r.exit_code == 0) {
    EXPECT_EQ(slurp(dir.path("replay")), recording.console);
  } else {
    EXPECT_EQ(r.exit_code, kExitDivergence) << r.err;
    EXPECT_NE(r.err.find("DIVERGENCE"), std::string::npos) << r.err;
  }
}

// The software CPU emulates KVM's breakpoints, so --async breakpoint records KVM's kind of
// landmark there, probed at CPL3 too: testsvc's hot compute loop falls back to counted
// landmarks, the rest are searched for, and the replay is exact. The summary and trace stats
// say how many fell back.
TEST(RecordReplay, ForcedBreakpointLandmarksOnTheSoftwareCpuReplayExactly) {
  TraceDir dir;
  Recording recording = record(
      dir, 3, {"--accel", "emu", "--async", "breakpoint", "--stats-json", dir.path("stats.json")},
      6);
  expect_recorded_with_input(recording);
  const auto stats = nlohmann::json::parse(slurp(dir.path("stats.json")));
  const auto& landmarks = stats["landmarks"];
  EXPECT_GT(landmarks["probes"].get<uint64_t>(), 0u) << stats.dump(2);
  EXPECT_EQ(landmarks["counted"], landmarks["breakpoint_fallbacks"]) << stats.dump(2);
  EXPECT_EQ(landmarks["checkpoint"], 0) << stats.dump(2);
  EXPECT_NE(recording.process.err.find("--async breakpoint probed"), std::string::npos)
      << recording.process.err;
  expect_exact_replay(dir, recording, "replay");
  ProcessResult trace_stats =
      run_process({FTVM_BINARY, "trace", "stats", dir.path("trace")}, "", 30s);
  EXPECT_EQ(trace_stats.exit_code, 0) << trace_stats.err;
  EXPECT_NE(trace_stats.out.find("(--async breakpoint)"), std::string::npos) << trace_stats.out;
}

// Rewrites the trace with every wall-clock read moved by a day: the guest prints another
// date in its banner than in the recording, which the replay must report as a divergence no
// earlier than the read's own position. (A changed console input would not do: testsvc copies
// input into RAM that the next checkpoint landmark overwrites with the recorded contents, so
// checkpoints resynchronise such a divergence before it reaches an output.)
TEST_P(RecordReplayOn, AChangedClockReadIsReportedAsDivergence) {
  TraceDir dir;
  Recording recording = record(dir, 4, on_backend(), 5);
  expect_recorded_with_input(recording);
  auto trace = replay::TraceReader::open(dir.path("trace"));
  ASSERT_TRUE(trace.ok()) << trace.error().message;
  auto writer =
      replay::TraceWriter::create(dir.path("tampered"), trace->header(), trace->guest_image());
  ASSERT_TRUE(writer.ok()) << writer.error().message;
  uint64_t tampered_exit = 0;
  bool tampered = false;
  for (const auto& logged : trace->entries()) {
    replay::TraceEntry entry = logged.entry;
    auto* read = std::get_if<replay::ClockReadEntry>(&entry);
    if (read && read->clock == replay::ClockKind::kRealtime) {
      read->value += 86'400'000'000'000;
      if (!tampered) tampered_exit = read->exit_count;
      tampered = true;
    }
    ASSERT_TRUE(writer->append(entry).ok());
  }
  ASSERT_TRUE(tampered) << "the recording read no wall-clock time";
  ASSERT_TRUE(writer->close().ok());

  ProcessResult r = run_process(
      {FTVM_BINARY, "replay", "--trace", dir.path("tampered"), "--console", dir.path("out")}, "",
      300s);
  EXPECT_EQ(r.exit_code, kExitDivergence) << r.err << "\nreplayed console:\n"
                                          << slurp(dir.path("out")) << "\nrecorded console:\n"
                                          << recording.console;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, std::regex(R"(DIVERGENCE at exit E=(\d+))"))) << r.err;
  EXPECT_GE(std::stoull(m[1].str()), tampered_exit) << r.err;
  // Which check sees it first depends on where the digests fall: the changed time reaches a
  // register (a registers digest), RAM (a memory digest) or the console (an output digest).
  EXPECT_TRUE(std::regex_search(
      r.err, std::regex(R"(console output differs|registers differ|guest RAM differs)")))
      << r.err;
  EXPECT_NE(r.err.find("last inputs applied"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("code at rip"), std::string::npos) << r.err;
}

TEST_P(RecordReplayOn, TraceDumpAndStatsDescribeTheTrace) {
  TraceDir dir;
  Recording recording = record(dir, 3, on_backend(), 6);
  expect_recorded_with_input(recording);
  ProcessResult dump = run_process({FTVM_BINARY, "trace", "dump", dir.path("trace")}, "", 30s);
  EXPECT_EQ(dump.exit_code, 0) << dump.err;
  EXPECT_TRUE(std::regex_search(dump.out, std::regex(R"(\n\d+ timer E=\d+ )"))) << dump.out;
  EXPECT_NE(dump.out.find("console-input"), std::string::npos);
  EXPECT_NE(dump.out.find(" end E="), std::string::npos);
  ProcessResult stats =
      run_process({FTVM_BINARY, "trace", "stats", "--json", dir.path("trace")}, "", 30s);
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  auto json = nlohmann::json::parse(stats.out);
  EXPECT_FALSE(json.empty());
}

TEST_P(RecordReplayOn, ATornLogStillReplaysWhatPrecedesTheTear) {
  TraceDir dir;
  Recording recording = record(dir, 3, on_backend(), 7);
  expect_recorded_with_input(recording);
  const auto log = std::filesystem::path(dir.path("trace")) / "log";
  std::filesystem::resize_file(log, std::filesystem::file_size(log) - 5);
  ProcessResult r = replay(dir, "replay");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning"), std::string::npos) << r.err;
  EXPECT_EQ(recording.console.rfind(slurp(dir.path("replay")), 0), 0u)
      << "what the torn trace replays is a prefix of the recording's output";
}

TEST_P(RecordReplayOn, RecordRefusesToOverwriteATraceWithoutForce) {
  TraceDir dir;
  std::vector<std::string> argv = {FTVM_BINARY, "record",  "--trace",   dir.path("trace"),
                                   "--seconds", "1",       "--console", dir.path("c"),
                                   "--accel",   GetParam()};
  ASSERT_EQ(run_process(argv, "", 30s).exit_code, 0);
  ProcessResult again = run_process(argv, "", 30s);
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("--force"), std::string::npos) << again.err;
  argv.push_back("--force");
  EXPECT_EQ(run_process(argv, "", 30s).exit_code, 0);
}

// A trace names the backend that recorded it; a replay builds its VM on that one, and says so
// when it cannot.
TEST(FtvmReplay, ATraceFromKvmNeedsKvm) {
  TraceDir dir;
  Recording recording = record(dir, 2, {"--accel", "emu"}, 8);
  ASSERT_EQ(recording.process.exit_code, 0) << recording.process.err;
  auto trace = replay::TraceReader::open(dir.path("trace"));
  ASSERT_TRUE(trace.ok()) << trace.error().message;
  EXPECT_EQ(trace->header().accel, "emu");
  EXPECT_EQ(trace->header().async_mode, "counted");
  replay::TraceHeader header = trace->header();
  header.accel = "kvm";
  auto writer = replay::TraceWriter::create(dir.path("as-kvm"), header, trace->guest_image());
  ASSERT_TRUE(writer.ok()) << writer.error().message;
  for (const auto& logged : trace->entries()) ASSERT_TRUE(writer->append(logged.entry).ok());
  ASSERT_TRUE(writer->close().ok());
  ProcessResult r = run_process(
      {FTVM_BINARY, "replay", "--trace", dir.path("as-kvm"), "--kvm-device", "/nonexistent/kvm"},
      "", 30s);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("the trace was recorded on KVM"), std::string::npos) << r.err;
  // Asked for the other backend than the trace's: refused before any VM is built.
  r = run_process({FTVM_BINARY, "replay", "--trace", dir.path("trace"), "--accel", "kvm"}, "", 30s);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("the trace ran on the software CPU (emu); --accel kvm cannot follow it"),
            std::string::npos)
      << r.err;
}

TEST(FtvmReplay, RejectsADirectoryThatIsNotATrace) {
  TraceDir dir;
  std::filesystem::create_directories(dir.path("empty"));
  ProcessResult r = run_process({FTVM_BINARY, "replay", "--trace", dir.path("empty")}, "", 30s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("header"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ftvm
