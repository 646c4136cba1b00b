// The split virtqueue as a driver would fill it, and as a hostile one would: every bad chain is
// an error, never a read outside guest RAM.
#include "vmm/devices/virtqueue.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

namespace ftvm {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kRam = 1 << 20;
constexpr VirtqueueLayout kLayout{8, 0x1000, 0x2000, 0x3000};

// The driver's side of a queue in guest RAM.
class Driver {
 public:
  explicit Driver(const GuestMemory& memory, VirtqueueLayout layout = kLayout)
      : memory_(memory), layout_(layout) {}

  void descriptor(uint16_t index, uint64_t gpa, uint32_t length, uint16_t flags, uint16_t next) {
    const uint64_t at = layout_.desc + 16 * uint64_t{index};
    put(at, gpa);
    put(at + 8, length);
    put(at + 12, flags);
    put(at + 14, next);
  }
  // Makes chain `head` available.
  void publish(uint16_t head) {
    put(layout_.avail + 4 + 2 * uint64_t{static_cast<uint16_t>(avail_ % layout_.size)}, head);
    ++avail_;
    put(layout_.avail + 2, avail_);
  }
  void set_avail_index(uint16_t index) { put(layout_.avail + 2, index); }
  void set_avail_flags(uint16_t flags) { put(layout_.avail, flags); }
  uint16_t used_index() const { return get<uint16_t>(layout_.used + 2); }
  std::pair<uint32_t, uint32_t> used(uint16_t slot) const {
    const uint64_t at = layout_.used + 4 + 8 * uint64_t{static_cast<uint16_t>(slot % layout_.size)};
    return {get<uint32_t>(at), get<uint32_t>(at + 4)};
  }

 private:
  template <typename T>
  void put(uint64_t gpa, T value) {
    ASSERT_TRUE(memory_.write_object(gpa, value));
  }
  template <typename T>
  T get(uint64_t gpa) const {
    T value{};
    EXPECT_TRUE(memory_.read(gpa, {reinterpret_cast<uint8_t*>(&value), sizeof(T)}));
    return value;
  }
  const GuestMemory& memory_;
  VirtqueueLayout layout_;
  uint16_t avail_ = 0;
};

class VirtqueueTest : public ::testing::Test {
 protected:
  GuestMemory memory_ = GuestMemory::allocate(kRam).value();
  Driver driver_{memory_};
  Virtqueue queue_ = Virtqueue::create(memory_, kLayout).value();

  std::string pop_error() {
    auto chain = queue_.pop();
    return chain ? "no error" : chain.error().message;
  }
};

TEST_F(VirtqueueTest, AChainComesOutReadableThenWritableAndGoesBackUsed) {
  EXPECT_FALSE(queue_.pop().value().has_value());
  driver_.descriptor(3, 0x10000, 16, Virtqueue::kDescNext, 5);
  driver_.descriptor(5, 0x20000, 512, Virtqueue::kDescNext | Virtqueue::kDescWrite, 6);
  driver_.descriptor(6, 0x30000, 1, Virtqueue::kDescWrite, 0);
  driver_.publish(3);
  auto chain = queue_.pop().value();
  ASSERT_TRUE(chain.has_value());
  EXPECT_EQ(chain->head, 3);
  ASSERT_EQ(chain->readable.size(), 1u);
  EXPECT_EQ(chain->readable[0].gpa, 0x10000u);
  ASSERT_EQ(chain->writable.size(), 2u);
  EXPECT_EQ(chain->writable_bytes, 513u);
  EXPECT_FALSE(queue_.pop().value().has_value());
  ASSERT_TRUE(queue_.push_used(3, 513));
  EXPECT_EQ(driver_.used_index(), 1);
  EXPECT_EQ(driver_.used(0), (std::pair<uint32_t, uint32_t>{3, 513}));
}

// The device's stores into the used ring are not the guest's: a state transfer learns of them
// only from the memory's host-write log.
TEST_F(VirtqueueTest, PushingAUsedElementLogsTheUsedRingsPageAsWrittenByTheHost) {
  driver_.descriptor(0, 0x10000, 16, Virtqueue::kDescWrite, 0);
  driver_.publish(0);  // the test's driver writes through GuestMemory too: log from here on
  memory_.log_host_writes();
  ASSERT_TRUE(queue_.pop().value().has_value());
  EXPECT_TRUE(memory_.take_host_written_pages().empty()) << "popping writes nothing";
  ASSERT_TRUE(queue_.push_used(0, 16));
  EXPECT_EQ(memory_.take_host_written_pages(), std::vector<uint64_t>{kLayout.used & ~0xfffull});
}

TEST_F(VirtqueueTest, RingSlotsWrapAroundTheQueueSize) {
  driver_.descriptor(0, 0x10000, 8, 0, 0);
  for (int i = 0; i < 20; ++i) {
    driver_.publish(0);
    auto chain = queue_.pop().value();
    ASSERT_TRUE(chain.has_value()) << i;
    ASSERT_TRUE(queue_.push_used(chain->head, 0));
  }
  EXPECT_EQ(driver_.used_index(), 20);
}

TEST_F(VirtqueueTest, ALoopOfDescriptorsIsAnError) {
  driver_.descriptor(0, 0x10000, 8, Virtqueue::kDescNext, 1);
  driver_.descriptor(1, 0x10000, 8, Virtqueue::kDescNext, 0);
  driver_.publish(0);
  EXPECT_THAT(pop_error(), HasSubstr("form a loop"));
}

TEST_F(VirtqueueTest, AHeadPastTheQueueIsAnError) {
  driver_.publish(8);
  EXPECT_THAT(pop_error(), HasSubstr("past the queue's 8 entries"));
}

TEST_F(VirtqueueTest, ANextPastTheQueueIsAnError) {
  driver_.descriptor(0, 0x10000, 8, Virtqueue::kDescNext, 200);
  driver_.publish(0);
  EXPECT_THAT(pop_error(), HasSubstr("descriptor index 200"));
}

TEST_F(VirtqueueTest, BuffersOutsideGuestRamAreErrorsOverflowIncluded) {
  driver_.descriptor(0, kRam - 4, 8, 0, 0);
  driver_.publish(0);
  EXPECT_THAT(pop_error(), HasSubstr("outside guest RAM"));
  Virtqueue other = Virtqueue::create(memory_, kLayout).value();
  driver_.descriptor(0, ~uint64_t{0} - 2, 16, 0, 0);  // gpa + length wraps to a small number
  auto chain = other.pop();
  ASSERT_FALSE(chain);
  EXPECT_THAT(chain.error().message, HasSubstr("outside guest RAM"));
}

TEST_F(VirtqueueTest, ReadableAfterWritableAndIndirectAreErrors) {
  driver_.descriptor(0, 0x10000, 8, Virtqueue::kDescNext | Virtqueue::kDescWrite, 1);
  driver_.descriptor(1, 0x10000, 8, 0, 0);
  driver_.publish(0);
  EXPECT_THAT(pop_error(), HasSubstr("device-readable after a device-writable"));
  Virtqueue other = Virtqueue::create(memory_, kLayout).value();
  driver_.descriptor(0, 0x10000, 16, Virtqueue::kDescIndirect, 0);
  auto chain = other.pop();
  ASSERT_FALSE(chain);
  EXPECT_THAT(chain.error().message, HasSubstr("indirect"));
}

TEST_F(VirtqueueTest, AnAvailableIndexPastTheQueueIsAnError) {
  driver_.set_avail_index(9);
  EXPECT_THAT(pop_error(), HasSubstr("claims 9 new buffers"));
}

TEST_F(VirtqueueTest, BadLayoutsAreRefused) {
  auto with = [&](VirtqueueLayout layout) {
    auto q = Virtqueue::create(memory_, layout);
    return q ? std::string("created") : q.error().message;
  };
  EXPECT_THAT(with({6, 0x1000, 0x2000, 0x3000}), HasSubstr("not a power of two"));
  EXPECT_THAT(with({8, 0x1008, 0x2000, 0x3000}), HasSubstr("not 16-byte aligned"));
  EXPECT_THAT(with({8, 0x1000, 0x2001, 0x3000}), HasSubstr("not 2-byte aligned"));
  EXPECT_THAT(with({8, 0x1000, 0x2000, kRam - 8}), HasSubstr("outside guest RAM"));
  EXPECT_THAT(with({8, ~uint64_t{0} - 15, 0x2000, 0x3000}), HasSubstr("outside guest RAM"));
}

TEST_F(VirtqueueTest, TheDriverCanAskForNoInterrupts) {
  EXPECT_FALSE(queue_.interrupts_suppressed());
  driver_.set_avail_flags(Virtqueue::kAvailNoInterrupt);
  EXPECT_TRUE(queue_.interrupts_suppressed());
}

}  // namespace
}  // namespace ftvm
