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

// What a joining backup is given (the state transfer): every request the device has not seen
// completed, wherever it is in the gate, with a write's data, in submission order.
TEST_F(DiskGateTest, UnfinishedRequestsAreEveryOneNotCompletedWithTheirData) {
  BlockRequest issued_write = request(0, BlockOp::kWrite, 0, 4);
  issued_write.data = {'a', 'b', 'c', 'd'};
  gate.submit(issued_write);
  gate.tag(1);
  gate.release_through(1);                             // 0: issued
  gate.submit(request(1, BlockOp::kRead, 8192, 512));  // 1: issued
  gate.submit(request(2, BlockOp::kRead, 0, 512));     // 2: waits for write 0
  BlockRequest held = request(3, BlockOp::kWrite, 4096, 2);
  held.data = {'x', 'y'};
  gate.submit(held);  // 3: held
  gate.tag(2);
  ASSERT_EQ(disk.issued, (std::vector<uint64_t>{0, 1}));
  const auto unfinished = gate.unfinished();
  ASSERT_EQ(unfinished.size(), 4u);
  EXPECT_EQ(unfinished[0], issued_write);
  EXPECT_EQ(unfinished[1], request(1, BlockOp::kRead, 8192, 512));
  EXPECT_EQ(unfinished[2], request(2, BlockOp::kRead, 0, 512));
  EXPECT_EQ(unfinished[3], held);

  gate.completed(1);
  gate.completed(0);  // read 2 goes now
  std::vector<uint64_t> left;
  for (const auto& r : gate.unfinished()) left.push_back(r.id);
  EXPECT_EQ(left, (std::vector<uint64_t>{2, 3}));
  gate.completed(2);
  gate.release_through(2);
  gate.completed(3);
  EXPECT_TRUE(gate.unfinished().empty());
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
