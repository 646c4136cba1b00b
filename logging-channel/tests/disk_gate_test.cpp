#include "logging_channel/disk_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace ftvm::channel {
namespace {

class RecordingDisk final : public BlockBackend {
 public:
  void submit(BlockRequest request) override { issued.push_back(request.id); }
  std::vector<uint64_t> issued;
};

BlockRequest request(uint64_t id, BlockOp op, uint64_t offset, uint32_t length) {
  std::vector<uint8_t> data;
  if (op == BlockOp::kWrite) data.resize(length);
  return {id, op, offset, length, std::move(data)};
}

class DiskGateTest : public ::testing::Test {
 protected:
  RecordingDisk disk;
  std::atomic<bool> lease{true};
  DiskGate gate{disk, [this] { return lease.load(); }};
};

// A write leaves only once the log up to the exit that submitted it is acknowledged.
TEST_F(DiskGateTest, AWriteWaitsForTheAckOfItsExit) {
  gate.submit(request(0, BlockOp::kWrite, 0, 512));
  gate.tag(10);
  EXPECT_TRUE(disk.issued.empty());
  gate.release_through(9);
  EXPECT_TRUE(disk.issued.empty());
  gate.release_through(10);
  EXPECT_EQ(disk.issued, std::vector<uint64_t>{0});
  EXPECT_EQ(gate.stats().writes, 1u);
  EXPECT_EQ(gate.stats().held, 0u);
}

TEST_F(DiskGateTest, FlushesDiscardsAndZeroingsAreOutputsToo) {
  gate.submit(request(0, BlockOp::kFlush, 0, 0));
  gate.submit(request(1, BlockOp::kDiscard, 0, 4096));
  gate.submit(request(2, BlockOp::kWriteZeroes, 4096, 4096));
  gate.tag(3);
  EXPECT_TRUE(disk.issued.empty());
  gate.release_through(3);
  EXPECT_EQ(disk.issued, (std::vector<uint64_t>{0, 1, 2}));
}

// Writes leave in submission order, even when an ack covers a later one first.
TEST_F(DiskGateTest, WritesLeaveInSubmissionOrder) {
  gate.submit(request(0, BlockOp::kWrite, 0, 512));
  gate.tag(5);
  gate.submit(request(1, BlockOp::kWrite, 512, 512));
  gate.tag(7);
  gate.release_through(7);
  EXPECT_EQ(disk.issued, (std::vector<uint64_t>{0, 1}));
}

TEST_F(DiskGateTest, ReadsGoAtOnce) {
  gate.submit(request(0, BlockOp::kRead, 0, 512));
  EXPECT_EQ(disk.issued, std::vector<uint64_t>{0});
}

// A read overlapping a held write waits for it to be issued and completed; one beside it
// does not.
TEST_F(DiskGateTest, AReadOverlappingAHeldOrInFlightWriteWaitsForIt) {
  gate.submit(request(0, BlockOp::kWrite, 1024, 1024));
  gate.tag(4);
  gate.submit(request(1, BlockOp::kRead, 1536, 512));  // inside the write
  gate.submit(request(2, BlockOp::kRead, 0, 1024));    // just before it
  EXPECT_EQ(disk.issued, std::vector<uint64_t>{2});
  gate.release_through(4);
  EXPECT_EQ(disk.issued, (std::vector<uint64_t>{2, 0})) << "the write is in flight now";
  gate.completed(2);  // a read's completion releases nothing
  EXPECT_EQ(disk.issued, (std::vector<uint64_t>{2, 0}));
  gate.completed(0);
  EXPECT_EQ(disk.issued, (std::vector<uint64_t>{2, 0, 1}));
  EXPECT_EQ(gate.stats().reads_waited, 1u);
}

TEST_F(DiskGateTest, AFlushOrdersEveryReadAfterIt) {
  gate.submit(request(0, BlockOp::kFlush, 0, 0));
  gate.tag(1);
  gate.submit(request(1, BlockOp::kRead, 1 << 20, 512));
  EXPECT_TRUE(disk.issued.empty());
  gate.release_through(1);
  gate.completed(0);
  EXPECT_EQ(disk.issued, (std::vector<uint64_t>{0, 1}));
}

// The lease (docs/failover.md): acks a stalled primary reads late release nothing.
TEST_F(DiskGateTest, NothingLeavesWhileTheLeaseHasRunOut) {
  gate.submit(request(0, BlockOp::kWrite, 0, 512));
  gate.tag(1);
  lease = false;
  gate.release_through(1);
  EXPECT_TRUE(disk.issued.empty());
  lease = true;
  gate.release_through(1);
  EXPECT_EQ(disk.issued, std::vector<uint64_t>{0});
}

TEST_F(DiskGateTest, OpenReleasesEverythingAndPassesLaterWritesThrough) {
  gate.submit(request(0, BlockOp::kWrite, 0, 512));
  gate.tag(3);
  gate.submit(request(1, BlockOp::kWrite, 512, 512));  // not tagged yet
  gate.open();
  EXPECT_EQ(disk.issued, (std::vector<uint64_t>{0, 1}));
  gate.submit(request(2, BlockOp::kWrite, 0, 512));
  EXPECT_EQ(disk.issued, (std::vector<uint64_t>{0, 1, 2}));
}

// A primary that lost the arbiter writes nothing more: not what it held, not what comes later.
TEST_F(DiskGateTest, DiscardDropsEverythingHeldAndLater) {
  gate.submit(request(0, BlockOp::kWrite, 0, 512));
  gate.tag(1);
  gate.submit(request(1, BlockOp::kRead, 0, 512));  // waits for the held write
  gate.discard();
  gate.release_through(5);
  gate.submit(request(2, BlockOp::kWrite, 0, 512));
  gate.submit(request(3, BlockOp::kRead, 0, 512));
  gate.open();  // too late: discarding is final
  EXPECT_TRUE(disk.issued.empty());
  EXPECT_EQ(gate.stats().discarded, 4u);
}

}  // namespace
}  // namespace ftvm::channel
