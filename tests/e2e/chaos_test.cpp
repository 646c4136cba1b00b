// A short run of the fault matrix (scripts/chaos): a protected pair in network namespaces,
// one random fault per trial, every trial checked for two live sides, lost or contradicted
// output, a backup live without a win and duplicated input. The full matrix is
// `scripts/chaos --trials 200`.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "subprocess.h"

namespace ftvm {
namespace {

using namespace std::chrono_literals;
using testing::ProcessResult;
using testing::run_process;
using testing::TempDir;

// Namespaces need root and a kernel that has them; the reason is said when they are missing.
std::string namespaces_unavailable() {
  if (::geteuid() != 0) return "needs root to create network namespaces";
  const ProcessResult probe =
      run_process({"/bin/sh", "-c",
                   "ip netns add ftvm-chaos-probe && ip netns del ftvm-chaos-probe && "
                   "command -v nft >/dev/null"},
                  "", 30s);
  if (probe.exit_code != 0) return "network namespaces or nft unavailable: " + probe.err;
  return "";
}

TEST(Chaos, EveryFaultKindLeavesOneConsistentLiveSide) {
  if (const std::string reason = namespaces_unavailable(); !reason.empty()) GTEST_SKIP() << reason;
  TempDir dir("ftvm-chaos");
  // Ten kinds, twelve trials: the seed draws most of them; the full matrix draws them all.
  const ProcessResult r =
      run_process({FTVM_CHAOS_SCRIPT, "--trials", "12", "--seed", "20261202", "--accel", "emu",
                   "--no-build", "--ftvm", FTVM_BINARY, "--json", dir.path("chaos.json")},
                  "", 600s);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  std::ifstream in(dir.path("chaos.json"));
  ASSERT_TRUE(in.good()) << r.err;
  const auto summary = nlohmann::json::parse(in);
  EXPECT_EQ(summary["trials"], 12);
  EXPECT_TRUE(summary["violations"].empty()) << summary["violations"].dump(2) << r.err;
  EXPECT_TRUE(summary["valid"].get<bool>());
  std::printf("%s", r.out.c_str());
}

// The etcd arbiter under the faults that touch it (its leader stopped or killed, two members
// killed at once) and the failovers that need it: still one consistent live side per trial.
TEST(Chaos, AnEtcdArbiterUnderFaultsLeavesOneConsistentLiveSide) {
  if (const std::string reason = namespaces_unavailable(); !reason.empty()) GTEST_SKIP() << reason;
  TempDir dir("ftvm-chaos-etcd");
  const ProcessResult r = run_process(
      {FTVM_CHAOS_SCRIPT, "--trials", "8", "--seed", "20261203", "--accel", "emu", "--arbiter",
       "etcd", "--faults",
       "kill-primary,isolate-primary,isolate-backup,stop-arbiter,kill-arbiter,kill-arbiter-quorum",
       "--no-build", "--ftvm", FTVM_BINARY, "--json", dir.path("chaos.json")},
      "", 600s);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  std::ifstream in(dir.path("chaos.json"));
  ASSERT_TRUE(in.good()) << r.err;
  const auto summary = nlohmann::json::parse(in);
  EXPECT_EQ(summary["trials"], 8);
  EXPECT_EQ(summary["arbiter"], "etcd");
  EXPECT_TRUE(summary["violations"].empty()) << summary["violations"].dump(2) << r.err;
  EXPECT_TRUE(summary["valid"].get<bool>());
  std::printf("%s", r.out.c_str());
}

}  // namespace
}  // namespace ftvm
