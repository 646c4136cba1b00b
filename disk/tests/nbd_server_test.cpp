// The NBD service with libnbd, a client written by other people, as its peer: exports and their
// flags, data written and read back (simple and structured replies), the write-like commands,
// the errors bad requests get once libnbd's own checks are off, and connections that break
// the protocol or come many at once.
#include "disk/nbd_server.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <libnbd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "disk/tcp_listener.h"
#include "temp_dir.h"

namespace ftvm::disk {
namespace {

using testing::TempDir;

constexpr uint64_t kImageBytes = 8 << 20;

class Client {
 public:
  Client() : h_(nbd_create()) {}
  ~Client() { nbd_close(h_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  nbd_handle* get() const { return h_; }
  // Connects to `export_name`; false with libnbd's message in `error()`.
  bool connect(uint16_t port, const std::string& export_name) {
    nbd_set_export_name(h_, export_name.c_str());
    return nbd_connect_tcp(h_, "127.0.0.1", std::to_string(port).c_str()) == 0;
  }
  std::string error() const { return nbd_get_error() ? nbd_get_error() : ""; }

 private:
  nbd_handle* h_;
};

// A plain TCP connection to the server, not an NBD client; reads time out after 5 s. Invalid
// if it cannot connect.
UniqueFd raw_connection(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&in), sizeof in) != 0) return UniqueFd();
  timeval timeout{5, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return fd;
}

class NbdServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    image_ = dir_.path() / "disk.img";
    std::vector<char> bytes(kImageBytes);
    std::mt19937 random(7);
    for (auto& b : bytes) b = static_cast<char>(random());
    std::ofstream(image_, std::ios::binary).write(bytes.data(), bytes.size());
    start({{"vol", image_.string(), false}, {"ro", image_.string(), true}});
  }
  void TearDown() override { stop(); }

  void start(const std::vector<NbdExportSpec>& exports, NbdServer::Options options = {}) {
    auto listener = listen_tcp("127.0.0.1:0");
    ASSERT_TRUE(listener.ok());
    const std::string address = *local_address(listener->get());
    port_ = static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
    options.log = [this](const std::string& line) {
      std::lock_guard lock(log_mutex_);
      log_ += line + "\n";
    };
    auto server = NbdServer::create(std::move(*listener), exports, std::move(options));
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_ = std::move(*server);
    thread_ = std::thread([this] { EXPECT_TRUE(server_->run().ok()); });
  }
  void stop() {
    if (!server_) return;
    server_->stop();
    thread_.join();
    server_.reset();
  }
  std::vector<uint8_t> file_bytes(uint64_t offset, size_t count) const {
    std::vector<uint8_t> out(count);
    std::ifstream in(image_, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(count));
    return out;
  }
  std::string log() {
    std::lock_guard lock(log_mutex_);
    return log_;
  }

  TempDir dir_;
  std::filesystem::path image_;
  uint16_t port_ = 0;
  std::unique_ptr<NbdServer> server_;
  std::thread thread_;
  std::mutex log_mutex_;
  std::string log_;
};

TEST_F(NbdServerTest, ListsItsExportsWithSizesAndFlags) {
  Client list;
  nbd_set_opt_mode(list.get(), true);
  ASSERT_TRUE(list.connect(port_, "")) << list.error();
  std::vector<std::string> names;
  nbd_list_callback collect{[](void* user, const char* name, const char*) {
                              static_cast<std::vector<std::string>*>(user)->push_back(name);
                              return 0;
                            },
                            &names, nullptr};
  ASSERT_EQ(nbd_opt_list(list.get(), collect), 2) << list.error();
  EXPECT_EQ(names, (std::vector<std::string>{"vol", "ro"}));
  nbd_opt_abort(list.get());

  Client vol;
  ASSERT_TRUE(vol.connect(port_, "vol")) << vol.error();
  EXPECT_EQ(nbd_get_size(vol.get()), static_cast<int64_t>(kImageBytes));
  EXPECT_EQ(nbd_is_read_only(vol.get()), 0);
  EXPECT_EQ(nbd_can_flush(vol.get()), 1);
  EXPECT_EQ(nbd_can_fua(vol.get()), 1);
  EXPECT_EQ(nbd_can_trim(vol.get()), 1);
  EXPECT_EQ(nbd_can_zero(vol.get()), 1);
  EXPECT_EQ(nbd_can_multi_conn(vol.get()), 1);
  Client ro;
  ASSERT_TRUE(ro.connect(port_, "ro")) << ro.error();
  EXPECT_EQ(nbd_is_read_only(ro.get()), 1);
  Client nothing;
  EXPECT_FALSE(nothing.connect(port_, "../etc/passwd"));
}

class NbdReplies : public NbdServerTest, public ::testing::WithParamInterface<bool> {};

TEST_P(NbdReplies, WritesReachTheFileAndReadBack) {
  Client c;
  nbd_set_request_structured_replies(c.get(), GetParam());
  ASSERT_TRUE(c.connect(port_, "vol")) << c.error();
  EXPECT_EQ(nbd_get_structured_replies_negotiated(c.get()), GetParam() ? 1 : 0);
  std::vector<uint8_t> pattern(3 * 4096 + 17);
  for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<uint8_t>(i * 7 + 3);
  const uint64_t at = 1'000'003;  // unaligned: the minimum block size is 1
  ASSERT_EQ(nbd_pwrite(c.get(), pattern.data(), pattern.size(), at, 0), 0) << c.error();
  std::vector<uint8_t> back(pattern.size());
  ASSERT_EQ(nbd_pread(c.get(), back.data(), back.size(), at, 0), 0) << c.error();
  EXPECT_EQ(back, pattern);
  ASSERT_EQ(nbd_flush(c.get(), 0), 0);
  EXPECT_EQ(file_bytes(at, pattern.size()), pattern);
  // A FUA write is in the file when it completes.
  const std::vector<uint8_t> fua(4096, 0xee);
  ASSERT_EQ(nbd_pwrite(c.get(), fua.data(), fua.size(), 4096, LIBNBD_CMD_FLAG_FUA), 0);
  EXPECT_EQ(file_bytes(4096, 4096), fua);
}

INSTANTIATE_TEST_SUITE_P(SimpleAndStructured, NbdReplies, ::testing::Bool());

TEST_F(NbdServerTest, ZeroesAndTrimsLeaveZeroes) {
  Client c;
  ASSERT_TRUE(c.connect(port_, "vol")) << c.error();
  // libnbd takes the count before the offset.
  ASSERT_EQ(nbd_zero(c.get(), 8192, 65536, 0), 0) << c.error();
  ASSERT_EQ(nbd_zero(c.get(), 200000, 70000, LIBNBD_CMD_FLAG_NO_HOLE | LIBNBD_CMD_FLAG_FUA), 0)
      << c.error();
  EXPECT_EQ(file_bytes(65536, 8192), std::vector<uint8_t>(8192, 0));
  EXPECT_EQ(file_bytes(70000, 200000), std::vector<uint8_t>(200000, 0));
  EXPECT_NE(file_bytes(65536 - 16, 16), std::vector<uint8_t>(16, 0));  // untouched around it
  ASSERT_EQ(nbd_trim(c.get(), 1 << 20, 2 << 20, 0), 0) << c.error();
  ASSERT_EQ(nbd_flush(c.get(), 0), 0);
  EXPECT_EQ(nbd_get_size(c.get()), static_cast<int64_t>(kImageBytes));  // trims keep the size
}

// With libnbd's own checks off, bad requests reach the server: each gets the error the NBD
// specification names, and the connection goes on.
TEST_F(NbdServerTest, BadRequestsGetTheSpecifiedErrorsAndTheConnectionGoesOn) {
  Client c;
  ASSERT_TRUE(c.connect(port_, "vol")) << c.error();
  nbd_set_strict_mode(c.get(), 0);
  std::vector<uint8_t> buffer(8192);
  EXPECT_EQ(nbd_pread(c.get(), buffer.data(), 4096, kImageBytes - 100, 0), -1);
  EXPECT_EQ(nbd_get_errno(), EINVAL) << "read past the end";
  EXPECT_EQ(nbd_pwrite(c.get(), buffer.data(), 4096, kImageBytes - 100, 0), -1);
  EXPECT_EQ(nbd_get_errno(), ENOSPC) << "write past the end";
  EXPECT_EQ(nbd_pread(c.get(), buffer.data(), 0, 0, 0), -1);
  EXPECT_EQ(nbd_get_errno(), EINVAL) << "zero-length read";
  EXPECT_EQ(nbd_pwrite(c.get(), buffer.data(), 512, 0, 0x10 /* FAST_ZERO, not offered */), -1);
  EXPECT_EQ(nbd_get_errno(), EINVAL) << "a flag the command cannot take";
  EXPECT_EQ(nbd_trim(c.get(), 4096, ~uint64_t{0} - 100, 0), -1);  // count, then offset
  EXPECT_EQ(nbd_get_errno(), EINVAL) << "offset + length overflows";
  EXPECT_EQ(nbd_pread(c.get(), buffer.data(), 4096, 0, 0), 0) << c.error();

  Client ro;
  ASSERT_TRUE(ro.connect(port_, "ro")) << ro.error();
  nbd_set_strict_mode(ro.get(), 0);
  EXPECT_EQ(nbd_pwrite(ro.get(), buffer.data(), 512, 0, 0), -1);
  EXPECT_EQ(nbd_get_errno(), EPERM) << "write to a read-only export";
}

// A raw TCP peer that is not an NBD client: its connection closes with a reason in the log,
// and a real client on another connection does not notice.
TEST_F(NbdServerTest, AMalformedStreamClosesOnlyItsOwnConnection) {
  Client good;
  ASSERT_TRUE(good.connect(port_, "vol")) << good.error();
  UniqueFd raw = raw_connection(port_);
  ASSERT_TRUE(raw.valid());
  const std::string junk("\0\0\0\3GET / HTTP/1.0\r\n\r\n", 24);
  ASSERT_GT(::send(raw.get(), junk.data(), junk.size(), MSG_NOSIGNAL), 0);
  char sink[4096];
  ssize_t n;
  while ((n = ::recv(raw.get(), sink, sizeof sink, 0)) > 0) {
  }
  EXPECT_EQ(n, 0) << "the server should close the connection";
  std::vector<uint8_t> buffer(4096);
  EXPECT_EQ(nbd_pread(good.get(), buffer.data(), buffer.size(), 0, 0), 0) << good.error();
  EXPECT_NE(log().find("closed after 0 requests: bad option magic"), std::string::npos) << log();
}

// A client that connects and never chooses an export is closed after the handshake timeout,
// so idle connections cannot hold every slot.
TEST_F(NbdServerTest, AHandshakeThatNeverEndsIsClosed) {
  stop();
  NbdServer::Options options;
  options.handshake_timeout = std::chrono::milliseconds(200);
  start({{"vol", image_.string(), false}}, options);
  UniqueFd idle = raw_connection(port_);
  ASSERT_TRUE(idle.valid());
  const auto start_at = std::chrono::steady_clock::now();
  char sink[256];
  ssize_t n;
  // The greeting, then the close; the wait was seen interrupted (EINTR) here, so it retries.
  while ((n = ::recv(idle.get(), sink, sizeof sink, 0)) > 0 || (n < 0 && errno == EINTR)) {
  }
  EXPECT_EQ(n, 0) << "the server should close the idle connection: " << std::strerror(errno);
  EXPECT_LT(std::chrono::steady_clock::now() - start_at, std::chrono::seconds(3));
  EXPECT_NE(log().find("no export chosen within 200 ms"), std::string::npos) << log();
  Client good;  // a real client still gets through
  EXPECT_TRUE(good.connect(port_, "vol")) << good.error();
}

// Several connections write their own regions at once, many requests in flight each; after a
// flush on one, every write is visible to all (CAN_MULTI_CONN).
TEST_F(NbdServerTest, ManyConnectionsWithManyRequestsInFlight) {
  constexpr int kClients = 4;
  constexpr int kWrites = 64;
  constexpr size_t kBlock = 16384;
  std::vector<std::thread> writers;
  for (int client = 0; client < kClients; ++client) {
    writers.emplace_back([&, client] {
      Client c;
      ASSERT_TRUE(c.connect(port_, "vol")) << c.error();
      std::vector<std::vector<uint8_t>> blocks;
      for (int w = 0; w < kWrites; ++w) {
        blocks.emplace_back(kBlock, static_cast<uint8_t>(client * kWrites + w));
        const uint64_t offset = (static_cast<uint64_t>(client) * kWrites + w) * kBlock;
        ASSERT_GE(
            nbd_aio_pwrite(c.get(), blocks.back().data(), kBlock, offset, NBD_NULL_COMPLETION, 0),
            0)
            << c.error();
      }
      while (nbd_aio_in_flight(c.get()) > 0) ASSERT_GE(nbd_poll(c.get(), 5000), 0) << c.error();
    });
  }
  for (auto& t : writers) t.join();
  Client check;
  ASSERT_TRUE(check.connect(port_, "vol")) << check.error();
  ASSERT_EQ(nbd_flush(check.get(), 0), 0);
  for (int block = 0; block < kClients * kWrites; ++block) {
    std::vector<uint8_t> got(kBlock);
    ASSERT_EQ(nbd_pread(check.get(), got.data(), kBlock, uint64_t(block) * kBlock, 0), 0);
    ASSERT_EQ(got, std::vector<uint8_t>(kBlock, static_cast<uint8_t>(block))) << block;
  }
}

TEST(NbdExportSpecTest, NamesNeverReachTheFileSystem) {
  auto ok = parse_export_spec("vm-1.disk=/var/lib/ftvm/vm1.img:ro");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->name, "vm-1.disk");
  EXPECT_EQ(ok->path, "/var/lib/ftvm/vm1.img");
  EXPECT_TRUE(ok->read_only);
  for (const char* bad :
       {"noequals", "=file", "../x=file", ".hidden=file", "a/b=file", "name=", "sp ace=file"}) {
    EXPECT_FALSE(parse_export_spec(bad).ok()) << bad;
  }
}

TEST(NbdServerSetupTest, AMissingFileIsASetupErrorNamingIt) {
  auto listener = listen_tcp("127.0.0.1:0");
  ASSERT_TRUE(listener.ok());
  auto server =
      NbdServer::create(std::move(*listener), {{"vol", "/nonexistent/disk.img", false}}, {});
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.error().message.find("export 'vol': cannot open /nonexistent/disk.img"),
            std::string::npos)
      << server.error().message;
}

}  // namespace
}  // namespace ftvm::disk

namespace ftvm::disk {
namespace {

// Fencing (writer_fence.h): once the arbiter decided for another process, a connection that
// named its writer may no longer change the disk, and says why; the winner and plain clients
// go on.
class FencedNbdServerTest : public NbdServerTest {
 protected:
  void SetUp() override {
    image_ = dir_.path() / "disk.img";
    std::ofstream(image_, std::ios::binary)
        .write(std::string(kImageBytes, '\0').data(), kImageBytes);
    NbdServer::Options options;
    options.fence = &fence_;
    start({{"vol", image_.string(), false}}, options);
  }
  WriterFence fence_;
};

TEST_F(FencedNbdServerTest, ALosingWriterIsRefusedFromTheDecisionOn) {
  Client primary;
  Client backup;
  Client reader;
  ASSERT_TRUE(primary.connect(port_, "vol@web/3/0123abcd")) << primary.error();
  ASSERT_TRUE(backup.connect(port_, "vol@web/3/89abcdef")) << backup.error();
  ASSERT_TRUE(reader.connect(port_, "vol")) << reader.error();
  const std::vector<uint8_t> old_data(4096, 0x11);
  const std::vector<uint8_t> new_data(4096, 0x22);
  ASSERT_EQ(nbd_pwrite(primary.get(), old_data.data(), old_data.size(), 0, 0), 0)
      << primary.error();

  fence_.record("web", {"backup", 3, "89abcdef"});
  EXPECT_EQ(nbd_pwrite(primary.get(), old_data.data(), old_data.size(), 8192, 0), -1);
  EXPECT_EQ(nbd_get_errno(), EPERM);
  EXPECT_EQ(nbd_flush(primary.get(), 0), -1);
  EXPECT_EQ(nbd_trim(primary.get(), 4096, 0, 0), -1);
  EXPECT_EQ(nbd_zero(primary.get(), 4096, 0, 0), -1);
  std::vector<uint8_t> back(4096);
  EXPECT_EQ(nbd_pread(primary.get(), back.data(), back.size(), 0, 0), 0);  // reads go on
  EXPECT_EQ(back, old_data);
  EXPECT_EQ(file_bytes(8192, 4096), std::vector<uint8_t>(4096, 0));

  ASSERT_EQ(nbd_pwrite(backup.get(), new_data.data(), new_data.size(), 0, 0), 0) << backup.error();
  EXPECT_EQ(nbd_flush(backup.get(), 0), 0);
  EXPECT_EQ(file_bytes(0, 4096), new_data);
  EXPECT_EQ(nbd_pwrite(reader.get(), new_data.data(), new_data.size(), 4096, 0), 0);
  EXPECT_NE(log().find("fenced"), std::string::npos) << log();
}

TEST_F(FencedNbdServerTest, ALosersWritesInFlightNeverLandAfterTheWinners) {
  // The loser has many writes to one place on their way when the decision comes: those let in
  // before it may land, but never after the winner's write there.
  Client primary;
  Client backup;
  ASSERT_TRUE(primary.connect(port_, "vol@web/3/0123abcd")) << primary.error();
  ASSERT_TRUE(backup.connect(port_, "vol@web/3/89abcdef")) << backup.error();
  constexpr size_t kBytes = 256 << 10;
  std::vector<std::vector<uint8_t>> stale;
  for (int round = 1; round <= 48; ++round) {
    stale.emplace_back(kBytes, static_cast<uint8_t>(round));
    ASSERT_NE(nbd_aio_pwrite(primary.get(), stale.back().data(), kBytes, 0, NBD_NULL_COMPLETION, 0),
              -1)
        << primary.error();
  }
  nbd_poll(primary.get(), 0);  // some on the wire, some perhaps still queued here
  fence_.record("web", {"backup", 3, "89abcdef"});
  const std::vector<uint8_t> winner(kBytes, 0xee);
  ASSERT_EQ(nbd_pwrite(backup.get(), winner.data(), kBytes, 0, 0), 0) << backup.error();
  while (nbd_aio_in_flight(primary.get()) > 0) ASSERT_NE(nbd_poll(primary.get(), -1), -1);
  EXPECT_EQ(file_bytes(0, kBytes), winner);
}

}  // namespace
}  // namespace ftvm::disk
