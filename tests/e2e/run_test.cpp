// `ftvm run` end to end: the built-in testsvc guest boots, keeps time, answers commands, and
// every kind of bad input gets a clear error and the documented exit status.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "kvm_gate.h"
#include "subprocess.h"

namespace ftvm {
namespace {

using namespace std::chrono_literals;
using testing::ProcessResult;
using testing::run_process;

constexpr int kExitOk = 0;
constexpr int kExitUsage = 1;
constexpr int kExitSetup = 2;
constexpr int kExitGuestFault = 3;

std::vector<std::string> ftvm_run(std::vector<std::string> extra) {
  std::vector<std::string> argv = {FTVM_BINARY, "run"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("ftvm-e2e-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string write(const std::string& name, const std::string& bytes) const {
    std::ofstream(file(name), std::ios::binary) << bytes;
    return file(name);
  }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

struct Status {
  uint64_t tick;
  uint64_t progress;
};

std::vector<Status> status_lines(const std::string& console) {
  static const std::regex kStatus(
      R"(^status tick=(\d+) progress=(\d+) journal=(\d+) digest=([0-9a-f]{16})$)");
  std::vector<Status> lines;
  std::istringstream in(console);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, kStatus)) {
      lines.push_back({std::stoull(m[1].str()), std::stoull(m[2].str())});
    }
  }
  return lines;
}

// The tests that run testsvc run on every backend: KVM where /dev/kvm is usable (skipped with
// the reason where it is not), and the software CPU everywhere.
class FtvmRunOn : public testing::OnEachBackend {
 protected:
  std::vector<std::string> run_args(std::vector<std::string> extra) const {
    extra.insert(extra.begin(), {"--accel", GetParam()});
    return ftvm_run(std::move(extra));
  }
};

FTVM_ON_EACH_BACKEND(FtvmRunOn);

TEST_P(FtvmRunOn, BootsTestsvcAndPrintsRisingStatusLines) {
  ProcessResult r = run_process(run_args({"--seconds", "3"}), "", 30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("testsvc: up mem=64MiB", 0), 0u) << r.out;
  auto lines = status_lines(r.out);
  ASSERT_GE(lines.size(), 4u) << r.out;
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_GT(lines[i].tick, lines[i - 1].tick);
    EXPECT_GT(lines[i].progress, lines[i - 1].progress) << "the compute thread must advance";
  }
  EXPECT_NE(r.err.find("time limit reached"), std::string::npos) << r.err;
}

TEST_P(FtvmRunOn, AnswersCommandsOnTheSerialConsole) {
  ProcessResult r = run_process(run_args({"--seconds", "20"}),
                                "echo ping-4711\nstats\ndigest\nnonsense\nshutdown\n", 60s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("> ping-4711\n"), std::string::npos) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(> stats ticks=\d+ progress=\d+)"))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(> digest=[0-9a-f]{16})"))) << r.out;
  EXPECT_NE(r.out.find("> unknown command: nonsense"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("> bye"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("guest requested shutdown with status 0"), std::string::npos) << r.err;
}

TEST_P(FtvmRunOn, ConsoleAndInputFilesAndStatsJson) {
  TempDir dir;
  const std::string input = dir.write("input.txt", "echo from-a-file\nshutdown\n");
  const std::string console = dir.file("console.txt");
  const std::string stats = dir.file("stats.json");
  ProcessResult r = run_process(run_args({"--input", input, "--console", console, "--stats-json",
                                          stats, "--mem", "32", "--seconds", "20"}),
                                "", 60s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "") << "console output belongs in the file";
  const std::string text = slurp(console);
  EXPECT_EQ(text.rfind("testsvc: up mem=32MiB", 0), 0u) << text;
  EXPECT_NE(text.find("> from-a-file"), std::string::npos) << text;
  auto json = nlohmann::json::parse(slurp(stats));
  EXPECT_GT(json["exits"]["pio"].get<uint64_t>(), 0u);
  EXPECT_GT(json["exits"]["deterministic"].get<uint64_t>(), 0u);
  EXPECT_GT(json["first_output_ms"].get<double>(), 0.0);
  EXPECT_EQ(json["guest_status"].get<int>(), 0);
}

// Input far beyond the guest's receive ring, given at once: the UART offers it as fast as the
// guest takes it from the FIFO, faster than its shell answers, so without flow control the ring
// overflows and the middle of the burst is lost (seen in the KVM test box as "echecho").
TEST_P(FtvmRunOn, ABurstOfInputLargerThanTheGuestsRingLosesNoByte) {
  TempDir dir;
  constexpr int kLines = 400;
  std::string burst;
  for (int i = 0; i < kLines; ++i) burst += "echo burst-" + std::to_string(i) + "\n";
  const std::string input = dir.write("input.txt", burst + "shutdown\n");
  ProcessResult r =
      run_process(run_args({"--input", input, "--mem", "32", "--seconds", "60"}), "", 120s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  size_t at = 0;
  for (int i = 0; i < kLines; ++i) {
    const std::string reply = "> burst-" + std::to_string(i) + "\n";
    at = r.out.find(reply, at);
    ASSERT_NE(at, std::string::npos) << "no reply to line " << i << ":\n" << r.out;
  }
  EXPECT_EQ(r.out.find("unknown command"), std::string::npos) << r.out;
}

TEST(FtvmRun, RejectsABadCommandLine) {
  ProcessResult r = run_process(ftvm_run({"--mem", "999999"}), "", 10s);
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_NE(r.err.find("--mem"), std::string::npos) << r.err;
  r = run_process({FTVM_BINARY, "run", "/nonexistent/kernel"}, "", 10s);
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_NE(r.err.find("/nonexistent/kernel"), std::string::npos) << r.err;
  r = run_process({FTVM_BINARY}, "", 10s);
  EXPECT_EQ(r.exit_code, kExitUsage);
}

TEST(FtvmRun, SaysWhatABadNumberOfSecondsShouldBe) {
  ProcessResult r = run_process(ftvm_run({"--seconds", "-1"}), "", 10s);
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_NE(r.err.find("--seconds: -1 is not a positive number of seconds"), std::string::npos)
      << r.err;
  r = run_process({FTVM_BINARY, "pair", "--kill-primary-after", "soon"}, "", 10s);
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_NE(r.err.find("'soon' is not a number of seconds"), std::string::npos) << r.err;
  // Not CLI11's own range message, which prints the largest double in full.
  EXPECT_EQ(r.err.find("17976931348623157"), std::string::npos) << r.err;
  r = run_process({FTVM_BINARY, "disk-server", "--listen-fd", "-3"}, "", 10s);
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_NE(r.err.find("--listen-fd: -3 is negative"), std::string::npos) << r.err;
}

TEST(FtvmRun, HelpExitsZero) {
  ProcessResult r = run_process({FTVM_BINARY, "run", "--help"}, "", 10s);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--seconds"), std::string::npos) << r.out;
}

TEST(FtvmRun, RejectsImagesThatAreNotX86_64Elf64) {
  TempDir dir;
  ProcessResult r = run_process(ftvm_run({dir.write("text.bin", "just some text\n")}), "", 10s);
  EXPECT_EQ(r.exit_code, kExitSetup);
  EXPECT_NE(r.err.find("not an ELF file"), std::string::npos) << r.err;

  std::string elf = slurp(FTVM_TESTSVC_ELF);
  ASSERT_GT(elf.size(), 64u);
  elf[18] = static_cast<char>(183);  // e_machine = EM_AARCH64
  elf[19] = 0;
  r = run_process(ftvm_run({dir.write("arm.elf", elf)}), "", 10s);
  EXPECT_EQ(r.exit_code, kExitSetup);
  EXPECT_NE(r.err.find("not x86-64"), std::string::npos) << r.err;

  elf = slurp(FTVM_TESTSVC_ELF);
  elf.resize(0x3000);  // inside the first loadable segment's bytes
  r = run_process(ftvm_run({"--seconds", "5", dir.write("truncated.elf", elf)}), "", 10s);
  EXPECT_EQ(r.exit_code, kExitSetup);
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
}

TEST(FtvmRun, ExplainsAMissingKvmDevice) {
  ProcessResult r =
      run_process(ftvm_run({"--accel", "kvm", "--kvm-device", "/nonexistent/kvm"}), "", 10s);
  EXPECT_EQ(r.exit_code, kExitSetup);
  EXPECT_NE(r.err.find("KVM is not available"), std::string::npos) << r.err;
}

TEST(FtvmRun, AutoRunsOnTheSoftwareCpuWithoutKvmAndSaysSo) {
  ProcessResult r = run_process(ftvm_run({"--kvm-device", "/nonexistent/kvm", "--seconds", "1"}),
                                "echo soft\n", 30s);
  EXPECT_EQ(r.exit_code, kExitOk) << r.err;
  EXPECT_NE(r.err.find("no usable KVM"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("running on the software CPU (Unicorn"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("testsvc: up"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("> soft"), std::string::npos) << r.out;
}

TEST(FtvmHostInfo, SaysWhyAMissingDeviceCannotRunVms) {
  ProcessResult r =
      run_process({FTVM_BINARY, "host-info", "--kvm-device", "/nonexistent/kvm"}, "", 10s);
  EXPECT_EQ(r.exit_code, kExitSetup);
  EXPECT_NE(r.out.find("/nonexistent/kvm (not usable)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("KVM is not available"), std::string::npos) << r.out;
  r = run_process({FTVM_BINARY, "host-info", "--json", "--kvm-device", "/nonexistent/kvm"}, "",
                  10s);
  EXPECT_EQ(r.exit_code, kExitSetup);
  auto json = nlohmann::json::parse(r.out);
  EXPECT_FALSE(json["kvm_usable"].get<bool>());
  EXPECT_EQ(json["backend"], "emu");
  EXPECT_TRUE(json["software_cpu"]["usable"].get<bool>()) << r.out;
  EXPECT_NE(json["software_cpu"]["engine"].get<std::string>().find("Unicorn"), std::string::npos);
}

TEST(FtvmHostInfo, ShowsAUsableKvmAndItsCapabilities) {
  FTVM_REQUIRE_KVM();
  ProcessResult r = run_process({FTVM_BINARY, "host-info", "--json"}, "", 10s);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto json = nlohmann::json::parse(r.out);
  EXPECT_TRUE(json["kvm_usable"].get<bool>());
  EXPECT_EQ(json["backend"], "kvm");
  EXPECT_EQ(json["kvm_api_version"], 12);
  EXPECT_GT(json["capabilities"]["USER_MEMORY"].get<int>(), 0);
  // The probe measured both privilege levels: a loop runs at each, at some speed.
  const auto& debug = json["guest_debug"];
  ASSERT_TRUE(debug.is_object()) << r.out;
  EXPECT_TRUE(debug["breakpoint_cpl3"].is_boolean()) << r.out;
  EXPECT_TRUE(debug["single_step_cpl3"].is_boolean()) << r.out;
  EXPECT_GT(debug["cpl0_instructions_per_second"].get<double>(), 0) << r.out;
  EXPECT_GT(debug["cpl3_instructions_per_second"].get<double>(), 0) << r.out;
}

TEST(FtvmRun, ReportsAGuestTripleFaultWithRegistersAndCode) {
  FTVM_REQUIRE_KVM();
  ProcessResult r = run_process(
      ftvm_run({"--accel", "kvm", std::string(FTVM_TINY_GUEST_DIR) + "/triple_fault.elf"}), "",
      10s);
  EXPECT_EQ(r.exit_code, kExitGuestFault);
  EXPECT_NE(r.err.find("triple fault"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("rip="), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("ud2"), std::string::npos) << r.err;
}

// Unicorn hands the guest's exceptions to the VMM instead of delivering them: the software CPU
// stops at the instruction and says why, with the crash report.
TEST(FtvmRun, TheSoftwareCpuStopsAtAnExceptionItCannotDeliver) {
  ProcessResult r = run_process(
      ftvm_run({"--accel", "emu", std::string(FTVM_TINY_GUEST_DIR) + "/triple_fault.elf"}), "",
      10s);
  EXPECT_EQ(r.exit_code, kExitGuestFault);
  EXPECT_NE(r.err.find("which the software CPU cannot run faithfully"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("rip="), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("ud2"), std::string::npos) << r.err;
}

TEST_P(FtvmRunOn, StopsCleanlyOnSigterm) {
  testing::Subprocess vm(run_args({}));
  ASSERT_TRUE(vm.wait_for_stdout("status tick=", 10s)) << vm.stdout_so_far();
  vm.send_signal(SIGTERM);
  ProcessResult r = vm.finish(10s);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.err.find("received Terminated"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ftvm
