// A short run of the fault matrix (scripts/chaos): a protected pair in network namespaces,
// one random fault per trial, every trial checked for two live sides, lost or contradicted
// output, a backup live without a win and duplicated input. The full matrix is
// `scripts/chaos --trials 200`.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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
  // A name of this process's own: ctest runs the two matrix tests side by side, and with one
  // shared name one test's probe found the other's namespace and skipped.
  const std::string ns = "ftvm-chaos-probe-" + std::to_string(::getpid());
  const ProcessResult probe = run_process(
      {"/bin/sh", "-c",
       "ip netns add " + ns + " && ip netns del " + ns + " && command -v nft >/dev/null"},
      "", 30s);
  if (probe.exit_code != 0) return "network namespaces or nft unavailable: " + probe.err;
  return "";
}

// Runs scripts/chaos with `args` and checks its summary: `trials` trials, no violation. The
// summary, or null where it could not be read (a failure is then recorded).
nlohmann::json run_matrix(const TempDir& dir, std::vector<std::string> args, int trials) {
  std::vector<std::string> argv = {FTVM_CHAOS_SCRIPT,
                                   "--trials",
                                   std::to_string(trials),
                                   "--accel",
                                   "emu",
                                   "--no-build",
                                   "--ftvm",
                                   FTVM_BINARY,
                                   "--json",
                                   dir.path("chaos.json")};
  argv.insert(argv.end(), args.begin(), args.end());
  const ProcessResult r = run_process(argv, "", 600s);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  std::ifstream in(dir.path("chaos.json"));
  EXPECT_TRUE(in.good()) << r.err;
  if (!in.good()) return nullptr;
  const auto summary = nlohmann::json::parse(in);
  EXPECT_EQ(summary["trials"], trials);
  EXPECT_TRUE(summary["violations"].empty()) << summary["violations"].dump(2) << r.err;
  EXPECT_TRUE(summary["valid"].get<bool>());
  std::printf("%s", r.out.c_str());
  return summary;
}

TEST(Chaos, EveryFaultKindLeavesOneConsistentLiveSide) {
  if (const std::string reason = namespaces_unavailable(); !reason.empty()) GTEST_SKIP() << reason;
  TempDir dir("ftvm-chaos");
  // Ten kinds, twelve trials: the seed draws most of them; the full matrix draws them all.
  run_matrix(dir, {"--seed", "20261202"}, 12);
}

// The etcd arbiter under the faults that touch it (its leader stopped or killed, two members
// killed at once) and the failovers that need it: still one consistent live side per trial.
TEST(Chaos, AnEtcdArbiterUnderFaultsLeavesOneConsistentLiveSide) {
  if (const std::string reason = namespaces_unavailable(); !reason.empty()) GTEST_SKIP() << reason;
  TempDir dir("ftvm-chaos-etcd");
  const auto summary = run_matrix(
      dir,
      {"--seed", "20261203", "--arbiter", "etcd", "--faults",
       "kill-primary,isolate-primary,isolate-backup,stop-arbiter,kill-arbiter,kill-arbiter-quorum"},
      8);
  if (!summary.is_null()) {
    EXPECT_EQ(summary["arbiter"], "etcd");
  }
}

}  // namespace
}  // namespace ftvm
