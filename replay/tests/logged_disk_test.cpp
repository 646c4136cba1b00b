#include "replay/logged_disk.h"

#include <gtest/gtest.h>

#include <vector>

namespace ftvm::replay {
namespace {

class RecordingDisk final : public BlockBackend {
 public:
  void submit(BlockRequest request) override { issued.push_back(request.id); }
  void completed(uint64_t id) override { completions.push_back(id); }
  std::vector<uint64_t> issued;
  std::vector<uint64_t> completions;
};

BlockRequest write_at(uint64_t id, uint64_t offset) {
  return {id, BlockOp::kWrite, offset, 512, std::vector<uint8_t>(512, 0xab)};
}

// While replaying nothing reaches a disk; what the log shows submitted and not completed is
// kept, and issued again, in submission order, when the backup goes live.
TEST(LoggedDiskTest, GoingLiveIssuesAgainWhatTheLogLeftUnfinished) {
  LoggedDisk logged;
  logged.submit(write_at(0, 0));
  logged.submit(write_at(1, 512));
  logged.submit({2, BlockOp::kFlush, 0, 0, {}});
  logged.submit(write_at(3, 1024));
  logged.completed(1);
  logged.completed(3);
  EXPECT_EQ(logged.pending(), 2u);
  RecordingDisk disk;
  EXPECT_EQ(logged.go_live(disk), 2u);
  EXPECT_EQ(disk.issued, (std::vector<uint64_t>{0, 2}));
  // Live: straight through, completions too.
  logged.submit(write_at(4, 0));
  logged.completed(0);
  EXPECT_EQ(disk.issued, (std::vector<uint64_t>{0, 2, 4}));
  EXPECT_EQ(disk.completions, std::vector<uint64_t>{0});
  EXPECT_EQ(logged.pending(), 0u);
}

TEST(LoggedDiskTest, ARequestCompletedInTheLogIsNeverIssued) {
  LoggedDisk logged;
  logged.submit(write_at(0, 0));
  logged.completed(0);
  logged.completed(7);  // a stale id: nothing to forget
  RecordingDisk disk;
  EXPECT_EQ(logged.go_live(disk), 0u);
  EXPECT_TRUE(disk.issued.empty());
}

}  // namespace
}  // namespace ftvm::replay
