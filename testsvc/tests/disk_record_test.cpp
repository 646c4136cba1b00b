// The disk workload's records: what is written checks as whole, and every way a sector can be
// wrong (never written, torn, another record's) is told apart.
#include "kernel/disk_record.h"

#include <gtest/gtest.h>

#include <array>

namespace testsvc::kernel {
namespace {

TEST(DiskRecordTest, AWrittenRecordChecksAsItself) {
  std::array<uint8_t, kDiskRecordBytes> sector{};
  MakeRecord(41, 1234, sector.data());
  EXPECT_EQ(CheckRecord(sector.data(), 41), RecordCheck::kOk);
  EXPECT_EQ(LoadRecordU64(sector.data() + 16), 1234u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(sector.data()), 8), "FTVMDISK");
}

TEST(DiskRecordTest, EveryWayASectorCanBeWrongIsToldApart) {
  std::array<uint8_t, kDiskRecordBytes> sector{};
  EXPECT_EQ(CheckRecord(sector.data(), 0), RecordCheck::kBadMagic);  // never written
  MakeRecord(7, 1, sector.data());
  EXPECT_EQ(CheckRecord(sector.data(), 8), RecordCheck::kWrongSequence);
  sector[300] ^= 1;  // a torn or corrupted write
  EXPECT_EQ(CheckRecord(sector.data(), 7), RecordCheck::kBadChecksum);
  EXPECT_STREQ(RecordCheckName(RecordCheck::kBadChecksum), "torn (bad checksum)");
}

}  // namespace
}  // namespace testsvc::kernel
