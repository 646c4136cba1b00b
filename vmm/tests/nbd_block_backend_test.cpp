// The VMM's NBD disk backend against real NBD servers: nbdkit's memory plugin, and ftvm's own
// disk server in-process. Completions come as events with their data; a dead server fails
// requests instead of hanging them.
#include "vmm/nbd_block_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "disk/nbd_server.h"
#include "disk/tcp_listener.h"
#include "subprocess.h"

namespace ftvm {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

BlockCompletion next_completion(EventQueue& events) {
  const auto deadline = EventQueue::Clock::now() + 5s;
  while (EventQueue::Clock::now() < deadline) {
    if (auto event = events.try_pop()) return std::get<BlockCompletion>(*event);
    events.wait(deadline);
  }
  ADD_FAILURE() << "no completion within 5 s";
  return {};
}

// nbdkit's memory plugin on a Unix socket.
class Nbdkit {
 public:
  explicit Nbdkit(const std::string& socket)
      : process_({"/usr/bin/nbdkit", "-f", "-U", socket, "memory", "4M"}) {
    for (int i = 0; i < 100 && !std::filesystem::exists(socket); ++i) {
      std::this_thread::sleep_for(50ms);
    }
    EXPECT_TRUE(std::filesystem::exists(socket))
        << "nbdkit did not start (scripts/setup installs it)";
  }
  void kill() { process_.send_signal(SIGKILL); }

 private:
  testing::Subprocess process_;
};

class NbdBlockBackendTest : public ::testing::Test {
 protected:
  testing::TempDir dir_{"ftvm-nbd-backend"};
  EventQueue events_;
};

TEST_F(NbdBlockBackendTest, WritesReadBackFromNbdkitMemory) {
  const std::string socket = dir_.path("nbd.sock");
  Nbdkit nbdkit(socket);
  auto disk = NbdBlockBackend::connect("nbd+unix:///?socket=" + socket, events_);
  ASSERT_TRUE(disk) << disk.error().message;
  EXPECT_EQ((*disk)->size_bytes(), 4u << 20);
  EXPECT_FALSE((*disk)->read_only());
  std::vector<uint8_t> pattern(8192);
  for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<uint8_t>(i * 13);
  (*disk)->submit({1, BlockOp::kWrite, 65536, 8192, pattern});
  EXPECT_EQ(next_completion(events_).status, BlockStatus::kOk);
  (*disk)->submit({2, BlockOp::kFlush, 0, 0, {}});
  EXPECT_EQ(next_completion(events_).status, BlockStatus::kOk);
  (*disk)->submit({3, BlockOp::kRead, 65536, 8192, {}});
  auto read = next_completion(events_);
  EXPECT_EQ(read.id, 3u);
  EXPECT_EQ(read.status, BlockStatus::kOk);
  EXPECT_EQ(read.data, pattern);
}

TEST_F(NbdBlockBackendTest, WritesReadBackFromQemuNbd) {
  const std::string image = dir_.path("qemu.img");
  std::ofstream(image, std::ios::binary).write(std::string(1 << 20, '\0').data(), 1 << 20);
  const std::string socket = dir_.path("qemu.sock");
  testing::Subprocess qemu_nbd({"/usr/bin/qemu-nbd", "-f", "raw", "-t", "-k", socket, image});
  for (int i = 0; i < 100 && !std::filesystem::exists(socket); ++i) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(std::filesystem::exists(socket))
      << "qemu-nbd did not start (scripts/setup installs it)";
  auto disk = NbdBlockBackend::connect("nbd+unix:///?socket=" + socket, events_);
  ASSERT_TRUE(disk) << disk.error().message;
  (*disk)->submit({1, BlockOp::kWrite, 512, 1024, std::vector<uint8_t>(1024, 0x3c)});
  EXPECT_EQ(next_completion(events_).status, BlockStatus::kOk);
  (*disk)->submit({2, BlockOp::kRead, 0, 2048, {}});
  auto read = next_completion(events_);
  ASSERT_EQ(read.data.size(), 2048u);
  EXPECT_EQ(read.data[511], 0);
  EXPECT_EQ(read.data[512], 0x3c);
  EXPECT_EQ(read.data[1535], 0x3c);
  EXPECT_EQ(read.data[1536], 0);
  qemu_nbd.send_signal(SIGTERM);
}

TEST_F(NbdBlockBackendTest, ManyRequestsInFlightAgainstTheDiskServer) {
  const std::string image = dir_.path("disk.img");
  std::ofstream(image, std::ios::binary).write(std::string(1 << 20, '\x5a').data(), 1 << 20);
  auto listener = disk::listen_tcp("127.0.0.1:0");
  ASSERT_TRUE(listener);
  const std::string address = *disk::local_address(listener->get());
  auto server = disk::NbdServer::create(std::move(*listener), {{"vol", image, false}}, {});
  ASSERT_TRUE(server) << server.error().message;
  std::thread serving([&] { EXPECT_TRUE((*server)->run()); });
  {
    auto disk = NbdBlockBackend::connect("nbd://" + address + "/vol", events_);
    ASSERT_TRUE(disk) << disk.error().message;
    for (uint64_t id = 0; id < 64; ++id) {
      (*disk)->submit({id, BlockOp::kWrite, id * 4096, 4096,
                       std::vector<uint8_t>(4096, static_cast<uint8_t>(id))});
    }
    for (int i = 0; i < 64; ++i) EXPECT_EQ(next_completion(events_).status, BlockStatus::kOk);
    (*disk)->submit({64, BlockOp::kRead, 63 * 4096, 4096, {}});
    EXPECT_EQ(next_completion(events_).data, std::vector<uint8_t>(4096, 63));
  }
  (*server)->stop();
  serving.join();
  std::ifstream in(image, std::ios::binary);
  in.seekg(10 * 4096);
  EXPECT_EQ(in.get(), 10) << "the write did not reach the disk server's file";
}

TEST_F(NbdBlockBackendTest, ADeadServerFailsRequestsInsteadOfHangingThem) {
  const std::string socket = dir_.path("nbd.sock");
  Nbdkit nbdkit(socket);
  auto disk = NbdBlockBackend::connect("nbd+unix:///?socket=" + socket, events_);
  ASSERT_TRUE(disk) << disk.error().message;
  nbdkit.kill();
  std::this_thread::sleep_for(100ms);
  (*disk)->submit({1, BlockOp::kRead, 0, 512, {}});
  (*disk)->submit({2, BlockOp::kWrite, 0, 512, std::vector<uint8_t>(512)});
  EXPECT_EQ(next_completion(events_).status, BlockStatus::kIoError);
  EXPECT_EQ(next_completion(events_).status, BlockStatus::kIoError);
}

TEST_F(NbdBlockBackendTest, NothingListeningIsAClearError) {
  auto disk =
      NbdBlockBackend::connect("nbd+unix:///?socket=" + dir_.path("nobody-here.sock"), events_);
  ASSERT_FALSE(disk);
  EXPECT_THAT(disk.error().message, HasSubstr("cannot connect to the disk at"));
}

}  // namespace
}  // namespace ftvm
