// A protected pair with a disk (`ftvm pair --disk`), on the software CPU so that it runs on
// every machine: the guest's disk workload writes and flushes records while the primary is
// killed or the channel is cut, and afterwards the live side reads every record the guest was
// told was written back intact (testsvc's `disk verify`): no acknowledged write is lost and
// nothing stale overwrote one.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <string>

#include "kernel/disk_record.h"
#include "subprocess.h"

namespace ftvm {
namespace {

using namespace std::chrono_literals;
using testing::ProcessResult;
using testing::Subprocess;
using testing::TempDir;

constexpr size_t kImageBytes = 4 << 20;

std::string make_image(const TempDir& dir) {
  const std::string path = dir.path("disk.img");
  std::ofstream(path, std::ios::binary).write(std::string(kImageBytes, '\0').data(), kImageBytes);
  return path;
}

// Waits until a whole line starting with `prefix` is on stdout.
bool wait_for_line(Subprocess& process, const std::string& prefix,
                   std::chrono::milliseconds timeout) {
  const auto deadline = Subprocess::Clock::now() + timeout;
  while (Subprocess::Clock::now() < deadline) {
    const std::string& out = process.stdout_so_far();
    if (const size_t at = out.find(prefix);
        at != std::string::npos && out.find('\n', at) != std::string::npos) {
      return true;
    }
    process.read_output_for(50ms);
  }
  return false;
}

// The live side goes on writing a while, then turns the workload off and reads every record
// back; then the pair stops.
ProcessResult verify_and_stop(Subprocess& pair) {
  pair.read_output_for(2s);
  pair.write_stdin("disk off\n");
  EXPECT_TRUE(pair.wait_for_stdout("> disk off", 30s)) << pair.stdout_so_far();
  pair.write_stdin("disk verify\n");
  EXPECT_TRUE(wait_for_line(pair, "> disk verify", 60s)) << pair.stdout_so_far();
  pair.send_signal(SIGINT);
  return pair.finish(60s);
}

// Runs the pair with the disk workload on, injects `fault` (pair's own option) after
// `fault_after` s, then turns the workload off and verifies on whichever side is live.
ProcessResult pair_with_disk_load(const TempDir& dir, const std::string& fault,
                                  double fault_after) {
  Subprocess pair({FTVM_BINARY, "pair", "--accel", "emu", "--disk", make_image(dir), "--seconds",
                   "30", fault, std::to_string(fault_after), "--run-dir", dir.path("run"),
                   "--stats-json", dir.path("pair.json")});
  EXPECT_TRUE(pair.wait_for_stdout("testsvc: up", 30s)) << pair.stderr_so_far();
  pair.write_stdin("disk on\n");
  EXPECT_TRUE(pair.wait_for_stdout("> disk on", 30s)) << pair.stdout_so_far();
  // The fault comes while the workload writes; the live side then goes on writing a while.
  EXPECT_TRUE(pair.wait_for_stderr(
      fault == "--kill-primary-after" ? "pair: failover:" : "WON the arbiter", 60s))
      << pair.stderr_so_far();
  return verify_and_stop(pair);
}

// The image as the host reads it once the pair is gone: the `verified` records the live guest
// read back are each intact at their sector, and past them every sector is either untouched or
// a whole record (a write issued but not acknowledged may have landed; none may be torn).
void expect_image_holds_records(const std::string& image, uint64_t verified) {
  using testsvc::kernel::CheckRecord;
  using testsvc::kernel::kDiskRecordBytes;
  using testsvc::kernel::RecordCheck;
  std::ifstream in(image, std::ios::binary);
  uint8_t sector[kDiskRecordBytes];
  const uint8_t zeroes[kDiskRecordBytes] = {};
  for (uint64_t n = 0; in.read(reinterpret_cast<char*>(sector), sizeof sector); ++n) {
    const RecordCheck check = CheckRecord(sector, n);
    if (n < verified) {
      ASSERT_EQ(check, RecordCheck::kOk) << "record " << n << " of " << verified;
    } else if (std::memcmp(sector, zeroes, sizeof sector) != 0) {
      ASSERT_EQ(check, RecordCheck::kOk) << "sector " << n << " is neither empty nor a record";
    }
  }
}

uint64_t verified_records(const std::string& console) {
  std::smatch m;
  if (!std::regex_search(console, m, std::regex(R"(> disk verify ok records=(\d+))"))) return 0;
  return std::stoull(m[1].str());
}

// A pair that stopped cleanly after a takeover whose guest read back every record it wrote.
void expect_every_record_after_takeover(const ProcessResult& r, const TempDir& dir) {
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(verified_records(r.out), 0u) << r.out;
  expect_image_holds_records(dir.path("disk.img"), verified_records(r.out));
  EXPECT_EQ(r.out.find("disk verify FAILED"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("the disk is live"), std::string::npos) << r.err;
}

TEST(PairDisk, AFailoverUnderDiskLoadLosesNoAcknowledgedWrite) {
  std::mt19937 random(20261202);
  for (int trial = 0; trial < 10; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    TempDir dir("ftvm-pair-disk");
    const double kill_after = 2.5 + std::uniform_real_distribution<double>(0, 1.5)(random);
    const ProcessResult r = pair_with_disk_load(dir, "--kill-primary-after", kill_after);
    expect_every_record_after_takeover(r, dir);
    std::ifstream in(dir.path("pair.json"));
    const auto stats = nlohmann::json::parse(in);
    EXPECT_TRUE(stats["backup_went_live"].get<bool>()) << stats.dump(2);
  }
}

// A VM with a disk is re-protected (issue 13): its backup is killed under disk load, a new one
// joins by state transfer with the disk's queue and requests in flight, and then the primary is
// killed: the joined backup takes over (issuing again what the log left unfinished), a third
// backup joins it (its disk writes gated again for that one's acks), and every record the guest
// was told was written reads back.
TEST(PairDisk, ABackupThatJoinedUnderDiskLoadTakesOverAndIsJoinedInTurn) {
  for (int trial = 0; trial < 2; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    TempDir dir("ftvm-pair-disk");
    Subprocess pair({FTVM_BINARY, "pair", "--accel", "emu", "--disk", make_image(dir), "--seconds",
                     "60", "--kill-backup-after", std::to_string(4 + 0.7 * trial),
                     "--kill-primary-after", "8", "--run-dir", dir.path("run"), "--stats-json",
                     dir.path("pair.json")});
    ASSERT_TRUE(pair.wait_for_stdout("testsvc: up", 30s)) << pair.stderr_so_far();
    pair.write_stdin("disk on\n");
    EXPECT_TRUE(pair.wait_for_stdout("> disk on", 30s)) << pair.stdout_so_far();
    ASSERT_EQ(pair.stderr_so_far().find("killed the backup"), std::string::npos)
        << "the backup was killed before the disk workload began";
    EXPECT_TRUE(pair.wait_for_stderr("disk requests in flight", 60s)) << pair.stderr_so_far();
    EXPECT_TRUE(pair.wait_for_stderr("pair: failover:", 60s)) << pair.stderr_so_far();
    EXPECT_TRUE(pair.wait_for_stderr("protected again: backup 3 joined", 60s))
        << pair.stderr_so_far();
    const ProcessResult r = verify_and_stop(pair);
    expect_every_record_after_takeover(r, dir);
    std::ifstream in(dir.path("pair.json"));
    const auto stats = nlohmann::json::parse(in);
    EXPECT_EQ(stats["backups_joined"].get<uint64_t>(), 2u) << stats.dump(2);
    EXPECT_EQ(stats["primaries_killed"].get<uint64_t>(), 1u) << stats.dump(2);
    EXPECT_EQ(stats["backups_promoted"].get<uint64_t>(), 1u) << stats.dump(2);
  }
}

// Exactly one side goes on; the other's writes stop when it loses (the primary discards what it
// held, a backup never wrote), so the winner's records all read back.
TEST(PairDisk, ASplitBrainUnderDiskLoadLeavesOneConsistentDisk) {
  for (int trial = 0; trial < 2; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    TempDir dir("ftvm-pair-disk");
    const ProcessResult r = pair_with_disk_load(dir, "--cut-channel-after", 3 + trial);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_GT(verified_records(r.out), 0u) << r.out;
    expect_image_holds_records(dir.path("disk.img"), verified_records(r.out));
    EXPECT_EQ(r.out.find("disk verify FAILED"), std::string::npos) << r.out;
    const std::regex won(R"(\] (primary|backup): WON the arbiter)");
    EXPECT_EQ(std::distance(std::sregex_iterator(r.err.begin(), r.err.end(), won),
                            std::sregex_iterator()),
              1)
        << r.err;
  }
}

}  // namespace
}  // namespace ftvm
