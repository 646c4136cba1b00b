#include "disk/arbiter_store.h"

#include <gtest/gtest.h>

#include <fstream>

#include "temp_dir.h"

namespace ftvm::disk {
namespace {

using testing::TempDir;

std::unique_ptr<ArbiterStore> open_store(const TempDir& dir) {
  auto store = ArbiterStore::open(dir.path());
  EXPECT_TRUE(store.ok()) << store.error().message;
  return store.ok() ? std::move(*store) : nullptr;
}

// One process per side name, unless a test names another.
std::string process_of(const std::string& side) {
  return side == "primary" ? "00000000000000a1" : "00000000000000b1";
}

TasResult tas(ArbiterStore& store, const std::string& vm, uint64_t generation,
              const std::string& side, const std::string& incarnation = "") {
  auto result = store.test_and_set(vm, generation, side,
                                   incarnation.empty() ? process_of(side) : incarnation);
  EXPECT_TRUE(result.ok()) << result.error().message;
  return result.ok() ? *result : TasResult{};
}

TEST(ArbiterStoreTest, FirstSideWinsAndTheOtherLoses) {
  TempDir dir;
  auto store = open_store(dir);
  EXPECT_FALSE(store->query("vm").has_value());
  const TasResult won = tas(*store, "vm", 1, "backup");
  EXPECT_TRUE(won.won);
  EXPECT_EQ(won.winner, "backup");
  const TasResult lost = tas(*store, "vm", 1, "primary");
  EXPECT_FALSE(lost.won);
  EXPECT_EQ(lost.winner, "backup");
  EXPECT_EQ(lost.generation, 1u);
  EXPECT_EQ(lost.reason, "winner backup");
  EXPECT_EQ(store->query("vm"), (Winner{"backup", 1, process_of("backup")}));
}

TEST(ArbiterStoreTest, TheWinnerMayAskAgain) {
  TempDir dir;
  auto store = open_store(dir);
  EXPECT_TRUE(tas(*store, "vm", 4, "primary").won);
  EXPECT_TRUE(tas(*store, "vm", 4, "primary").won);  // a retry after a lost reply
  EXPECT_FALSE(tas(*store, "vm", 4, "backup").won);
}

// Seen before: a second process calling itself "backup" (another connection, a restarted side,
// a second pair with the same VM id and generation) was told WON too: two live copies.
TEST(ArbiterStoreTest, AWinIsHeldByOneProcessNotByItsSideName) {
  TempDir dir;
  {
    auto store = open_store(dir);
    EXPECT_TRUE(tas(*store, "pair", 1, "backup", "00000000000000b1").won);
    const TasResult other = tas(*store, "pair", 1, "backup", "00000000000000b2");
    EXPECT_FALSE(other.won);
    EXPECT_EQ(other.winner, "backup");
    EXPECT_EQ(other.reason,
              "winner backup, another process of that side (incarnation "
              "00000000000000b1)");
  }
  auto restarted = open_store(dir);
  EXPECT_FALSE(tas(*restarted, "pair", 1, "backup", "00000000000000b3").won);
  EXPECT_TRUE(tas(*restarted, "pair", 1, "backup", "00000000000000b1").won)
      << "the winning process may still retry after the arbiter restarted";
}

TEST(ArbiterStoreTest, StaleGenerationsLose) {
  TempDir dir;
  auto store = open_store(dir);
  EXPECT_TRUE(tas(*store, "vm", 2, "primary").won);
  EXPECT_TRUE(tas(*store, "vm", 3, "backup").won);  // a new incarnation of the pair
  const TasResult stale = tas(*store, "vm", 2, "primary");
  EXPECT_FALSE(stale.won);
  EXPECT_EQ(stale.winner, "backup");
  EXPECT_EQ(stale.generation, 3u);
  EXPECT_EQ(stale.reason, "winner backup; generation 3 has superseded 2");
}

TEST(ArbiterStoreTest, VmsAreIndependent) {
  TempDir dir;
  auto store = open_store(dir);
  EXPECT_TRUE(tas(*store, "a", 1, "primary").won);
  EXPECT_TRUE(tas(*store, "b", 1, "backup").won);
}

TEST(ArbiterStoreTest, DecisionsSurviveARestart) {
  TempDir dir;
  {
    auto store = open_store(dir);
    EXPECT_TRUE(tas(*store, "vm", 5, "backup").won);
    EXPECT_TRUE(tas(*store, "other", 9, "primary").won);
  }
  auto store = open_store(dir);
  EXPECT_EQ(store->query("vm"), (Winner{"backup", 5, process_of("backup")}));
  EXPECT_EQ(store->query("other"), (Winner{"primary", 9, process_of("primary")}));
  EXPECT_FALSE(tas(*store, "vm", 5, "primary").won);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "arbiter.state.tmp"));
}

TEST(ArbiterStoreTest, AFreshDirectoryGetsAnEmptyStateFileAtOnce) {
  TempDir dir;
  auto store = open_store(dir);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / ArbiterStore::kStateFileName));
}

// From the code, before: a missing state file loaded as no decisions, so losing it (a crash
// during the very first decision, a careless delete) let the loser of a decision win.
TEST(ArbiterStoreTest, AMissingStateFileInAUsedDirectoryIsAnError) {
  TempDir dir;
  {
    auto store = open_store(dir);
    EXPECT_TRUE(tas(*store, "vm", 1, "backup").won);
  }
  std::filesystem::remove(dir.path() / ArbiterStore::kStateFileName);
  auto reopened = ArbiterStore::open(dir.path());
  ASSERT_FALSE(reopened.ok()) << "a lost state file was read as a fresh start";
  EXPECT_NE(reopened.error().message.find("is missing, but an arbiter used this directory"),
            std::string::npos)
      << reopened.error().message;
}

TEST(ArbiterStoreTest, ACorruptStateFileIsAnErrorNotAReset) {
  TempDir dir;
  {
    auto store = open_store(dir);
    EXPECT_TRUE(tas(*store, "vm", 5, "backup").won);
  }
  std::ofstream(dir.path() / ArbiterStore::kStateFileName, std::ios::app) << "vm x 1 primary\n";
  auto reopened = ArbiterStore::open(dir.path());
  ASSERT_FALSE(reopened.ok());
  EXPECT_NE(reopened.error().message.find("is corrupt"), std::string::npos);
  EXPECT_NE(reopened.error().message.find("not reset automatically"), std::string::npos);
}

TEST(ArbiterStoreTest, OneArbiterPerStateDir) {
  TempDir dir;
  auto first = open_store(dir);
  auto second = ArbiterStore::open(dir.path());
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("another arbiter is already using"), std::string::npos);
}

TEST(ArbiterStoreTest, AMissingStateDirIsAnError) {
  TempDir dir;
  auto store = ArbiterStore::open(dir.path() / "missing");
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message.find("--state-dir"), std::string::npos);
}

TEST(ArbiterStoreTest, RejectsBadNames) {
  TempDir dir;
  auto store = open_store(dir);
  EXPECT_FALSE(store->test_and_set("bad id", 1, "primary", process_of("primary")).ok());
  EXPECT_FALSE(store->test_and_set("vm", 1, "PRIMARY", process_of("primary")).ok());
  EXPECT_FALSE(store->test_and_set("vm", 1, "primary", "").ok());
  EXPECT_FALSE(store->test_and_set("vm", 1, "primary", "NOT-HEX!").ok());
  EXPECT_FALSE(store->query("vm").has_value());
}

}  // namespace
}  // namespace ftvm::disk
