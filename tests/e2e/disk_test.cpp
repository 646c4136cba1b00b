// The guest's disk end to end: testsvc's disk workload writes numbered, self-checking records
// through virtio-blk to a raw image (ftvm run --disk), verifies them, and a recording with
// disk traffic replays exactly without the disk (every completion is in the log).
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "kernel/disk_record.h"
#include "kvm_gate.h"
#include "subprocess.h"

namespace ftvm {
namespace {

using namespace std::chrono_literals;
using testing::ProcessResult;
using testing::run_process;
using testing::Subprocess;
using testing::TempDir;

constexpr size_t kImageBytes = 1 << 20;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void make_image(const std::string& path) {
  std::ofstream(path, std::ios::binary).write(std::string(kImageBytes, '\0').data(), kImageBytes);
}

// Boots testsvc with the disk, turns the workload on for a while, verifies, shuts down.
// Returns the console.
ProcessResult run_disk_session(std::vector<std::string> argv) {
  Subprocess vm(std::move(argv));
  EXPECT_TRUE(vm.wait_for_stdout("testsvc: up", 60s)) << vm.stdout_so_far() << vm.stderr_so_far();
  vm.write_stdin("disk on\n");
  EXPECT_TRUE(vm.wait_for_stdout("> disk on", 30s)) << vm.stdout_so_far();
  std::this_thread::sleep_for(1500ms);
  vm.write_stdin("disk off\n");
  EXPECT_TRUE(vm.wait_for_stdout("> disk off", 30s)) << vm.stdout_so_far();
  vm.write_stdin("disk\n");
  EXPECT_TRUE(vm.wait_for_stdout(" sectors=", 30s)) << vm.stdout_so_far();
  vm.write_stdin("disk verify\n");
  EXPECT_TRUE(vm.wait_for_stdout("> disk verify", 60s)) << vm.stdout_so_far();
  vm.write_stdin("shutdown\n");
  return vm.finish(60s);
}

uint64_t records_in(const std::string& console) {
  std::smatch match;
  if (!std::regex_search(console, match, std::regex("disk verify ok records=(\\d+)"))) return 0;
  return std::stoull(match[1]);
}

// On each backend: KVM where /dev/kvm is usable (skipped with the reason where it is not), and
// the software CPU everywhere.
class DiskOn : public testing::OnEachBackend {};

FTVM_ON_EACH_BACKEND(DiskOn);

TEST_P(DiskOn, TheGuestsRecordsReachTheImageAndVerify) {
  TempDir dir("ftvm-disk-e2e");
  const std::string image = dir.path("disk.img");
  make_image(image);
  const ProcessResult r =
      run_disk_session({FTVM_BINARY, "run", "--accel", GetParam(), "--disk", image});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const uint64_t records = records_in(r.out);
  ASSERT_GT(records, 0u) << r.out;
  EXPECT_NE(r.out.find("errors=0"), std::string::npos) << r.out;
  // The image as another reader sees it: every record whole and in its place.
  const std::string bytes = slurp(image);
  for (uint64_t n = 0; n < records; ++n) {
    const auto* sector = reinterpret_cast<const uint8_t*>(bytes.data()) + n * 512;
    EXPECT_EQ(testsvc::kernel::CheckRecord(sector, n), testsvc::kernel::RecordCheck::kOk) << n;
  }
}

// The same through the disk server: the VM's disk is an NBD export of `ftvm disk-server`.
TEST_P(DiskOn, TheGuestWritesThroughTheDiskServer) {
  TempDir dir("ftvm-disk-nbd");
  const std::string image = dir.path("shared.img");
  make_image(image);
  Subprocess server({"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1", FTVM_BINARY, "disk-server",
                     "--state-dir", dir.path("state"), "--listen", "127.0.0.1:0", "--nbd-listen",
                     "127.0.0.1:0", "--export", "vm1=" + image});
  ASSERT_TRUE(server.wait_for_stdout("arbiter: listening", 30s)) << server.stdout_so_far();
  std::smatch match;
  const std::string log = server.stdout_so_far();
  ASSERT_TRUE(std::regex_search(log, match, std::regex("nbd: listening on (\\S+)"))) << log;
  const ProcessResult r = run_disk_session(
      {FTVM_BINARY, "run", "--accel", GetParam(), "--disk", "nbd://" + match[1].str() + "/vm1"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const uint64_t records = records_in(r.out);
  ASSERT_GT(records, 0u) << r.out;
  server.send_signal(SIGTERM);
  EXPECT_EQ(server.finish(30s).exit_code, 0);
  const std::string bytes = slurp(image);
  for (uint64_t n = 0; n < records; ++n) {
    const auto* sector = reinterpret_cast<const uint8_t*>(bytes.data()) + n * 512;
    EXPECT_EQ(testsvc::kernel::CheckRecord(sector, n), testsvc::kernel::RecordCheck::kOk) << n;
  }
}

TEST_P(DiskOn, ARecordingWithDiskTrafficReplaysExactlyWithoutTheDisk) {
  TempDir dir("ftvm-disk-rr");
  const std::string image = dir.path("disk.img");
  make_image(image);
  const ProcessResult recorded = run_disk_session({FTVM_BINARY, "record", "--accel", GetParam(),
                                                   "--trace", dir.path("trace"), "--disk", image});
  ASSERT_EQ(recorded.exit_code, 0) << recorded.out << recorded.err;
  ASSERT_GT(records_in(recorded.out), 0u) << recorded.out;
  std::filesystem::remove(image);  // a replay must not need it
  const ProcessResult stats =
      run_process({FTVM_BINARY, "trace", "stats", dir.path("trace")}, "", 60s);
  EXPECT_NE(stats.out.find("block-completion"), std::string::npos) << stats.out;
  const ProcessResult replayed = run_process(
      {FTVM_BINARY, "replay", "--trace", dir.path("trace"), "--console", dir.path("replay.txt")},
      "", 300s);
  EXPECT_EQ(replayed.exit_code, 0) << replayed.err;
  EXPECT_NE(replayed.err.find("identical registers and RAM"), std::string::npos) << replayed.err;
  EXPECT_EQ(slurp(dir.path("replay.txt")), recorded.out);
}

// The image is checked before the VM is built, so this runs on any host.
// The disk's I/O thread must not take the signals that stop a VM: a SIGINT it received would
// kill the process instead of stopping it in order. (It started before the VM blocked them, and
// `ftvm run --disk` died "killed by SIGINT" about as often as the signal picked that thread.)
TEST_P(DiskOn, SigintStopsAVmWithADiskInOrder) {
  TempDir dir;
  const std::string image = dir.path("disk.img");
  make_image(image);
  for (int attempt = 0; attempt < 5; ++attempt) {
    Subprocess vm({FTVM_BINARY, "run", "--accel", GetParam(), "--disk", image});
    ASSERT_TRUE(vm.wait_for_stdout("status tick=", 30s)) << vm.stderr_so_far();
    vm.send_signal(SIGINT);
    const ProcessResult r = vm.finish(30s);
    EXPECT_EQ(r.signal, 0) << "killed by signal " << r.signal << " on attempt " << attempt;
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("received Interrupt"), std::string::npos) << r.err;
  }
}

TEST(Disk, ABadImageIsAClearError) {
  TempDir dir("ftvm-disk-bad");
  std::ofstream(dir.path("odd.img")) << "not sectors";
  const ProcessResult r =
      run_process({FTVM_BINARY, "run", "--disk", dir.path("odd.img"), "--seconds", "5"}, "", 60s);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("not a positive multiple of 512"), std::string::npos) << r.err;
  const ProcessResult missing = run_process(
      {FTVM_BINARY, "record", "--trace", dir.path("t"), "--disk", dir.path("none.img")}, "", 60s);
  EXPECT_EQ(missing.exit_code, 2) << missing.err;
  EXPECT_NE(missing.err.find("cannot open disk image"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace ftvm
