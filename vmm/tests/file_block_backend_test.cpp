// The live disk backend on a real file: completions arrive as events with the file's bytes,
// writes reach the file, and a request the file cannot satisfy completes with an I/O error.
#include "vmm/file_block_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "subprocess.h"

namespace ftvm {
namespace {

using ::testing::HasSubstr;

constexpr size_t kImageBytes = 1 << 20;

class FileBlockBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    image_ = dir_.path("disk.img");
    bytes_.resize(kImageBytes);
    std::mt19937 random(3);
    for (auto& b : bytes_) b = static_cast<uint8_t>(random());
    std::ofstream(image_, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes_.data()), kImageBytes);
  }
  // The next completion, waiting up to 5 s.
  BlockCompletion next_completion() {
    const auto deadline = EventQueue::Clock::now() + std::chrono::seconds(5);
    while (EventQueue::Clock::now() < deadline) {
      if (auto event = events_.try_pop()) return std::get<BlockCompletion>(*event);
      events_.wait(deadline);
    }
    ADD_FAILURE() << "no completion within 5 s";
    return {};
  }
  std::vector<uint8_t> file_bytes(size_t offset, size_t count) {
    std::vector<uint8_t> out(count);
    std::ifstream in(image_, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(count));
    return out;
  }

  testing::TempDir dir_{"ftvm-blk"};
  std::string image_;
  std::vector<uint8_t> bytes_;
  EventQueue events_;
};

TEST_F(FileBlockBackendTest, ReadsWritesAndFlushesCompleteAsEvents) {
  auto disk = FileBlockBackend::open(image_, false, events_);
  ASSERT_TRUE(disk) << disk.error().message;
  EXPECT_EQ((*disk)->size_bytes(), kImageBytes);
  (*disk)->submit({7, BlockOp::kRead, 4096, 8192, {}});
  auto read = next_completion();
  EXPECT_EQ(read.id, 7u);
  EXPECT_EQ(read.status, BlockStatus::kOk);
  EXPECT_EQ(read.data, std::vector<uint8_t>(bytes_.begin() + 4096, bytes_.begin() + 4096 + 8192));

  (*disk)->submit({8, BlockOp::kWrite, 512, 1024, std::vector<uint8_t>(1024, 0x42)});
  auto write = next_completion();
  EXPECT_EQ(write.id, 8u);
  EXPECT_EQ(write.status, BlockStatus::kOk);
  EXPECT_TRUE(write.data.empty());
  (*disk)->submit({9, BlockOp::kFlush, 0, 0, {}});
  EXPECT_EQ(next_completion().status, BlockStatus::kOk);
  EXPECT_EQ(file_bytes(512, 1024), std::vector<uint8_t>(1024, 0x42));
}

TEST_F(FileBlockBackendTest, WriteZeroesAndDiscardLeaveZeroes) {
  auto disk = FileBlockBackend::open(image_, false, events_);
  ASSERT_TRUE(disk);
  (*disk)->submit({1, BlockOp::kWriteZeroes, 8192, 4096, {}});
  EXPECT_EQ(next_completion().status, BlockStatus::kOk);
  (*disk)->submit({2, BlockOp::kDiscard, 65536, 65536, {}});
  EXPECT_EQ(next_completion().status, BlockStatus::kOk);
  EXPECT_EQ(file_bytes(8192, 4096), std::vector<uint8_t>(4096, 0));
  EXPECT_EQ(file_bytes(8192 - 512, 512),
            std::vector<uint8_t>(bytes_.begin() + 8192 - 512, bytes_.begin() + 8192));
  // A discard is advice; where the file system punches holes, the range reads as zeroes.
  const auto discarded = file_bytes(65536, 65536);
  EXPECT_TRUE(discarded == std::vector<uint8_t>(65536, 0) ||
              discarded == std::vector<uint8_t>(bytes_.begin() + 65536, bytes_.begin() + 131072));
}

TEST_F(FileBlockBackendTest, ManyRequestsInFlightAllComplete) {
  auto disk = FileBlockBackend::open(image_, false, events_);
  ASSERT_TRUE(disk);
  for (uint64_t id = 0; id < 200; ++id) {
    (*disk)->submit({id, BlockOp::kRead, id * 4096 % kImageBytes, 4096, {}});
  }
  std::vector<bool> seen(200);
  for (int i = 0; i < 200; ++i) {
    auto c = next_completion();
    ASSERT_LT(c.id, 200u);
    EXPECT_FALSE(seen[c.id]);
    seen[c.id] = true;
    const size_t at = c.id * 4096 % kImageBytes;
    EXPECT_EQ(c.data, std::vector<uint8_t>(bytes_.begin() + at, bytes_.begin() + at + 4096));
  }
}

TEST_F(FileBlockBackendTest, AReadPastTheFilesEndIsAnIoError) {
  auto disk = FileBlockBackend::open(image_, false, events_);
  ASSERT_TRUE(disk);
  (*disk)->submit({1, BlockOp::kRead, kImageBytes, 512, {}});
  auto c = next_completion();
  EXPECT_EQ(c.status, BlockStatus::kIoError);
  EXPECT_TRUE(c.data.empty());
}

TEST_F(FileBlockBackendTest, BadImagesAreClearErrors) {
  EXPECT_THAT(FileBlockBackend::open(dir_.path("missing.img"), false, events_).error().message,
              HasSubstr("cannot open disk image"));
  std::ofstream(dir_.path("odd.img")) << "not a sector";
  EXPECT_THAT(FileBlockBackend::open(dir_.path("odd.img"), false, events_).error().message,
              HasSubstr("not a positive multiple of 512"));
}

TEST_F(FileBlockBackendTest, RequestsInFlightAtDestructionStillLand) {
  {
    auto disk = FileBlockBackend::open(image_, false, events_);
    ASSERT_TRUE(disk);
    (*disk)->submit({1, BlockOp::kWrite, 0, 4096, std::vector<uint8_t>(4096, 0x77)});
  }
  EXPECT_EQ(file_bytes(0, 4096), std::vector<uint8_t>(4096, 0x77));
}

}  // namespace
}  // namespace ftvm
