// virtio-blk through its transport, as a guest driver uses it: requests reach the backend with
// their own copy of the data, and read data reaches the guest only when the completion is
// applied.
#include "vmm/devices/virtio_blk.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "virtio_test_driver.h"

namespace ftvm {
namespace {

using ::testing::HasSubstr;

class RecordingBackend final : public BlockBackend {
 public:
  void submit(BlockRequest request) override { requests.push_back(std::move(request)); }
  std::vector<BlockRequest> requests;
};

class NoIrqs final : public IrqSink {
 public:
  void set_irq_level(uint8_t, bool high) override { level = high; }
  bool level = false;
};

constexpr uint64_t kDesc = 0x1000, kAvail = 0x2000, kUsed = 0x3000;
constexpr uint64_t kHeader = 0x10000, kData = 0x20000, kStatus = 0x30000;
constexpr uint64_t kCapacity = 1 << 20;

class VirtioBlkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    blk_ = std::make_unique<VirtioBlk>(memory_, backend_, options_);
    transport_ = std::make_unique<VirtioMmio>(*blk_, memory_, IrqLine(irqs_, 5));
    start();
  }

  void write_reg(uint64_t offset, uint32_t value) {
    testing::write_register(*transport_, offset, value);
  }
  uint32_t read_reg(uint64_t offset) { return testing::read_register(*transport_, offset); }
  void start() {
    testing::start_device(*transport_, 0, {{kDesc, kAvail, kUsed}}, 8);
    ASSERT_TRUE(transport_->active()) << transport_->failure().value_or("");
  }
  template <typename T>
  void put(uint64_t gpa, T value) {
    ASSERT_TRUE(memory_.write_object(gpa, value));
  }
  void descriptor(uint16_t index, uint64_t gpa, uint32_t length, uint16_t flags, uint16_t next) {
    put(kDesc + 16 * uint64_t{index}, gpa);
    put(kDesc + 16 * uint64_t{index} + 8, length);
    put(kDesc + 16 * uint64_t{index} + 12, flags);
    put(kDesc + 16 * uint64_t{index} + 14, next);
  }
  // header -> data (readable for a write, writable for a read) -> status, then notify.
  void submit(uint32_t type, uint64_t sector, uint32_t data_bytes, bool data_writable) {
    put(kHeader, type);
    put(kHeader + 4, uint32_t{0});
    put(kHeader + 8, sector);
    put(kStatus, uint8_t{0xff});
    descriptor(0, kHeader, 16, Virtqueue::kDescNext, 1);
    descriptor(1, kData, data_bytes,
               Virtqueue::kDescNext | (data_writable ? Virtqueue::kDescWrite : 0), 2);
    descriptor(2, kStatus, 1, Virtqueue::kDescWrite, 0);
    put(kAvail + 4 + 2 * uint64_t{static_cast<uint16_t>(avail_ % 8)}, uint16_t{0});
    put(kAvail + 2, ++avail_);
    write_reg(VirtioMmio::kQueueNotify, 0);
  }
  uint8_t status_byte() {
    uint8_t s = 0;
    EXPECT_TRUE(memory_.read(kStatus, {&s, 1}));
    return s;
  }
  uint16_t used_index() {
    uint16_t i = 0;
    EXPECT_TRUE(memory_.read(kUsed + 2, {reinterpret_cast<uint8_t*>(&i), 2}));
    return i;
  }
  uint32_t used_length(uint16_t slot) {
    uint32_t n = 0;
    EXPECT_TRUE(
        memory_.read(kUsed + 4 + 8 * uint64_t{slot} + 4, {reinterpret_cast<uint8_t*>(&n), 4}));
    return n;
  }

  GuestMemory memory_ = GuestMemory::allocate(1 << 20).value();
  RecordingBackend backend_;
  NoIrqs irqs_;
  VirtioBlk::Options options_{kCapacity, false, "ftvm-disk-0"};
  std::unique_ptr<VirtioBlk> blk_;
  std::unique_ptr<VirtioMmio> transport_;
  uint16_t avail_ = 0;
};

TEST_F(VirtioBlkTest, ConfigSpaceHoldsTheCapacityInSectors) {
  EXPECT_EQ(read_reg(VirtioMmio::kDeviceId), 2u);
  uint64_t sectors = 0;
  transport_->read(VirtioMmio::kConfig, {reinterpret_cast<uint8_t*>(&sectors), 8});
  EXPECT_EQ(sectors, kCapacity / 512);
  write_reg(VirtioMmio::kDeviceFeaturesSel, 0);
  EXPECT_EQ(read_reg(VirtioMmio::kDeviceFeatures),
            (uint32_t{1} << 9) | (uint32_t{1} << 13) | (uint32_t{1} << 14));  // FLUSH, DISCARD, WZ
}

TEST_F(VirtioBlkTest, ReadDataReachesTheGuestOnlyWhenTheCompletionIsApplied) {
  std::vector<uint8_t> before(1024, 0xaa);
  ASSERT_TRUE(memory_.write(kData, before));
  submit(VirtioBlk::kTypeIn, 8, 1024, true);
  ASSERT_EQ(backend_.requests.size(), 1u);
  const BlockRequest& r = backend_.requests[0];
  EXPECT_EQ(r.id, 0u);
  EXPECT_EQ(r.op, BlockOp::kRead);
  EXPECT_EQ(r.offset, 8u * 512);
  EXPECT_EQ(r.length, 1024u);
  EXPECT_EQ(used_index(), 0);
  std::vector<uint8_t> guest(1024);
  ASSERT_TRUE(memory_.read(kData, guest));
  EXPECT_EQ(guest, before) << "read data arrived before its completion";
  EXPECT_FALSE(irqs_.level);

  ASSERT_TRUE(blk_->complete({0, BlockStatus::kOk, std::vector<uint8_t>(1024, 0x5c)}));
  ASSERT_TRUE(memory_.read(kData, guest));
  EXPECT_EQ(guest, std::vector<uint8_t>(1024, 0x5c));
  EXPECT_EQ(status_byte(), 0);
  EXPECT_EQ(used_index(), 1);
  EXPECT_EQ(used_length(0), 1025u);
  EXPECT_TRUE(irqs_.level);
  EXPECT_EQ(blk_->in_flight(), 0u);
}

TEST_F(VirtioBlkTest, WriteDataIsCopiedAtSubmissionIntoABounceBuffer) {
  ASSERT_TRUE(memory_.write(kData, std::vector<uint8_t>(512, 0x11)));
  submit(VirtioBlk::kTypeOut, 1, 512, false);
  ASSERT_TRUE(memory_.write(kData, std::vector<uint8_t>(512, 0x22)));  // the guest reuses it
  ASSERT_EQ(backend_.requests.size(), 1u);
  EXPECT_EQ(backend_.requests[0].op, BlockOp::kWrite);
  EXPECT_EQ(backend_.requests[0].data, std::vector<uint8_t>(512, 0x11));
  ASSERT_TRUE(blk_->complete({0, BlockStatus::kOk, {}}));
  EXPECT_EQ(status_byte(), 0);
  EXPECT_EQ(used_length(0), 1u);
}

TEST_F(VirtioBlkTest, DiscardAndWriteZeroesReachTheBackendAsOneRange) {
  write_reg(VirtioMmio::kDeviceFeaturesSel, 0);
  const uint32_t offered = read_reg(VirtioMmio::kDeviceFeatures);
  EXPECT_TRUE(offered & VirtioBlk::kFeatureDiscard);
  EXPECT_TRUE(offered & VirtioBlk::kFeatureWriteZeroes);
  uint32_t max_discard = 0;
  transport_->read(VirtioMmio::kConfig + 36, {reinterpret_cast<uint8_t*>(&max_discard), 4});
  EXPECT_EQ(max_discard, VirtioBlk::kMaxZeroSectors);

  put(kData, uint64_t{16});     // sector
  put(kData + 8, uint32_t{8});  // sectors
  put(kData + 12, VirtioBlk::kSegmentFlagUnmap);
  submit(VirtioBlk::kTypeWriteZeroes, 0, 16, false);
  ASSERT_EQ(backend_.requests.size(), 1u);
  EXPECT_EQ(backend_.requests[0].op, BlockOp::kWriteZeroes);
  EXPECT_EQ(backend_.requests[0].offset, 16u * 512);
  EXPECT_EQ(backend_.requests[0].length, 8u * 512);
  ASSERT_TRUE(blk_->complete({0, BlockStatus::kOk, {}}));
  EXPECT_EQ(status_byte(), 0);

  put(kData + 12, uint32_t{0});
  submit(VirtioBlk::kTypeDiscard, 0, 16, false);
  ASSERT_EQ(backend_.requests.size(), 2u);
  EXPECT_EQ(backend_.requests[1].op, BlockOp::kDiscard);
}

TEST_F(VirtioBlkTest, BadDiscardSegmentsAreAnsweredByTheDevice) {
  put(kData, uint64_t{0});
  put(kData + 8, uint32_t{1});
  put(kData + 12, VirtioBlk::kSegmentFlagUnmap);  // unmap is for write-zeroes only
  submit(VirtioBlk::kTypeDiscard, 0, 16, false);
  EXPECT_EQ(status_byte(), static_cast<uint8_t>(BlockStatus::kUnsupported));
  put(kData + 12, uint32_t{0});
  put(kData + 8, uint32_t{0});  // no sectors
  submit(VirtioBlk::kTypeDiscard, 0, 16, false);
  EXPECT_EQ(status_byte(), static_cast<uint8_t>(BlockStatus::kIoError));
  put(kData, kCapacity / 512);  // past the end
  put(kData + 8, uint32_t{1});
  submit(VirtioBlk::kTypeWriteZeroes, 0, 16, false);
  EXPECT_EQ(status_byte(), static_cast<uint8_t>(BlockStatus::kIoError));
  submit(VirtioBlk::kTypeDiscard, 0, 32, false);  // two segments: more than offered
  EXPECT_EQ(status_byte(), static_cast<uint8_t>(BlockStatus::kIoError));
  EXPECT_TRUE(backend_.requests.empty());
}

TEST_F(VirtioBlkTest, RequestsOutsideTheDiskFailAtOnceWithoutTheBackend) {
  submit(VirtioBlk::kTypeIn, kCapacity / 512 - 1, 1024, true);  // one sector past the end
  EXPECT_TRUE(backend_.requests.empty());
  EXPECT_EQ(status_byte(), static_cast<uint8_t>(BlockStatus::kIoError));
  submit(VirtioBlk::kTypeOut, ~uint64_t{0} / 256, 512, false);  // sector * 512 overflows
  EXPECT_TRUE(backend_.requests.empty());
  EXPECT_EQ(status_byte(), static_cast<uint8_t>(BlockStatus::kIoError));
  submit(VirtioBlk::kTypeIn, 0, 100, true);  // not whole sectors
  EXPECT_EQ(status_byte(), static_cast<uint8_t>(BlockStatus::kIoError));
  EXPECT_EQ(used_index(), 3);
}

TEST_F(VirtioBlkTest, GetIdAndUnknownTypesAreAnsweredByTheDevice) {
  submit(VirtioBlk::kTypeGetId, 0, 20, true);
  char id[21] = {};
  ASSERT_TRUE(memory_.read(kData, {reinterpret_cast<uint8_t*>(id), 20}));
  EXPECT_STREQ(id, "ftvm-disk-0");
  EXPECT_EQ(status_byte(), 0);
  submit(99, 0, 512, true);
  EXPECT_EQ(status_byte(), static_cast<uint8_t>(BlockStatus::kUnsupported));
  EXPECT_TRUE(backend_.requests.empty());
}

TEST_F(VirtioBlkTest, AChainWithoutAStatusByteBreaksTheDevice) {
  put(kHeader, VirtioBlk::kTypeIn);
  descriptor(0, kHeader, 16, 0, 0);  // the header alone
  put(kAvail + 4, uint16_t{0});
  put(kAvail + 2, uint16_t{1});
  write_reg(VirtioMmio::kQueueNotify, 0);
  EXPECT_TRUE(transport_->broken());
  EXPECT_THAT(transport_->failure().value_or(""), HasSubstr("no status byte"));
}

TEST_F(VirtioBlkTest, CompletionsForUnknownRequestsAreErrorsAndStaleOnesAreIgnored) {
  auto unknown = blk_->complete({7, BlockStatus::kOk, {}});
  ASSERT_FALSE(unknown);
  EXPECT_THAT(unknown.error().message, HasSubstr("never submitted"));
  submit(VirtioBlk::kTypeIn, 0, 512, true);
  auto wrong_size = blk_->complete({0, BlockStatus::kOk, std::vector<uint8_t>(100)});
  ASSERT_FALSE(wrong_size);
  EXPECT_THAT(wrong_size.error().message, HasSubstr("100 bytes"));
  submit(VirtioBlk::kTypeIn, 0, 512, true);  // request 1
  write_reg(VirtioMmio::kStatus, 0);         // the driver resets the device
  EXPECT_TRUE(blk_->complete({1, BlockStatus::kOk, std::vector<uint8_t>(512)}));
}

std::vector<uint8_t> ram_of(const GuestMemory& memory) {
  std::vector<uint8_t> bytes(memory.size());
  EXPECT_TRUE(memory.read(0, bytes));
  return bytes;
}

// A joined backup's disk after a state transfer: given the sender's RAM, its transport's state
// and the requests in flight, it completes those requests and takes the next one exactly as
// the sender does.
TEST_F(VirtioBlkTest, AMachineLoadedWithItsStateGoesOnAsTheOneItWasTakenFrom) {
  submit(VirtioBlk::kTypeIn, 8, 1024, true);    // request 0
  submit(VirtioBlk::kTypeOut, 16, 512, false);  // request 1
  VirtioBlkState state;
  state.transport = transport_->capture();
  blk_->capture(state);
  ASSERT_EQ(state.in_flight.size(), 2u);

  GuestMemory memory = GuestMemory::allocate(1 << 20).value();
  ASSERT_TRUE(memory.write(0, ram_of(memory_)));
  RecordingBackend backend;
  NoIrqs irqs;
  VirtioBlk blk(memory, backend, options_);
  VirtioMmio transport(blk, memory, IrqLine(irqs, 5));
  ASSERT_TRUE(transport.load(state.transport));
  ASSERT_TRUE(blk.load(state));
  EXPECT_TRUE(transport.active());
  VirtioBlkState loaded;
  loaded.transport = transport.capture();
  blk.capture(loaded);
  EXPECT_EQ(loaded, state);

  for (VirtioBlk* device : {blk_.get(), &blk}) {
    ASSERT_TRUE(device->complete({0, BlockStatus::kOk, std::vector<uint8_t>(1024, 0x5c)}));
    ASSERT_TRUE(device->complete({1, BlockStatus::kOk, {}}));
  }
  EXPECT_TRUE(ram_of(memory) == ram_of(memory_)) << "the used ring, status or data differ";
  EXPECT_EQ(irqs.level, irqs_.level);

  submit(VirtioBlk::kTypeIn, 24, 512, true);  // the guest's next request, on the sender
  ASSERT_TRUE(memory.write(0, ram_of(memory_)));
  testing::write_register(transport, VirtioMmio::kQueueNotify, 0);
  ASSERT_EQ(backend.requests.size(), 1u);
  EXPECT_EQ(backend.requests[0], backend_.requests.back());
  EXPECT_EQ(backend.requests[0].id, 2u);
}

TEST_F(VirtioBlkTest, RequestsThatDoNotFitTheDeviceAreRefused) {
  VirtioBlkState state;
  blk_->capture(state);
  state.next_id = 4;
  state.in_flight = {{4, 0, {}, kStatus, 0}};
  auto beyond = blk_->load(state);
  ASSERT_FALSE(beyond);
  EXPECT_THAT(beyond.error().message, HasSubstr("request 4"));
  state.in_flight = {{1, 0, {{kData, 8}}, kStatus, 512}};
  EXPECT_FALSE(blk_->load(state)) << "512 bytes to read into 8";
  state.in_flight = {{1, 0, {}, kStatus, 0}, {1, 1, {}, kStatus, 0}};
  EXPECT_FALSE(blk_->load(state)) << "one id twice";
  state.in_flight = {{1, VirtioBlk::kQueueSize, {}, kStatus, 0}};
  EXPECT_FALSE(blk_->load(state)) << "a head beyond the queue";
  EXPECT_EQ(blk_->in_flight(), 0u) << "a refused load changed the device";
}

class VirtioBlkReadOnlyTest : public VirtioBlkTest {
 protected:
  VirtioBlkReadOnlyTest() { options_.read_only = true; }
};

TEST_F(VirtioBlkReadOnlyTest, WritesFailAndReadsWork) {
  put(kData, uint64_t{0});
  put(kData + 8, uint32_t{1});
  put(kData + 12, uint32_t{0});
  submit(VirtioBlk::kTypeWriteZeroes, 0, 16, false);
  EXPECT_EQ(status_byte(), static_cast<uint8_t>(BlockStatus::kIoError));
  write_reg(VirtioMmio::kDeviceFeaturesSel, 0);
  EXPECT_TRUE(read_reg(VirtioMmio::kDeviceFeatures) & VirtioBlk::kFeatureReadOnly);
  submit(VirtioBlk::kTypeOut, 0, 512, false);
  EXPECT_TRUE(backend_.requests.empty());
  EXPECT_EQ(status_byte(), static_cast<uint8_t>(BlockStatus::kIoError));
  submit(VirtioBlk::kTypeIn, 0, 512, true);
  EXPECT_EQ(backend_.requests.size(), 1u);
}

}  // namespace
}  // namespace ftvm
