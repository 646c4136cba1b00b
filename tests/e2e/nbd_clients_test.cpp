// `ftvm disk-server`'s NBD service with NBD clients written by other people, run as a user
// would run them: nbdinfo, nbdcopy, qemu-img, qemu-io and nbdsh (libnbd's Python shell). Each
// runs under `timeout`. scripts/setup installs them all; a missing one fails the test.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>

#include "subprocess.h"

namespace ftvm {
namespace {

using namespace std::chrono_literals;
using testing::ProcessResult;
using testing::run_process;
using testing::Subprocess;
using testing::TempDir;

constexpr size_t kImageBytes = 64 << 20;

// A tool run under coreutils' timeout, so a hung client fails the test instead of hanging it.
ProcessResult tool(std::vector<std::string> args, std::chrono::seconds limit = 60s) {
  args.insert(args.begin(), {"/usr/bin/timeout", "-k", "5", std::to_string(limit.count())});
  return run_process(args, "", limit + 10s);
}

bool have(const std::string& program) {
  return tool({"sh", "-c", "command -v " + program}, 10s).exit_code == 0;
}

std::vector<char> random_bytes(size_t count, unsigned seed) {
  std::vector<char> bytes(count);
  std::mt19937_64 random(seed);
  for (size_t i = 0; i < count; i += 8) {
    const uint64_t value = random();
    std::memcpy(bytes.data() + i, &value, std::min<size_t>(8, count - i));
  }
  return bytes;
}

void write_file(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::vector<char> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class NbdClientsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* program : {"nbdinfo", "nbdcopy", "qemu-img", "qemu-io"}) {
      ASSERT_TRUE(have(program)) << program << " is missing: scripts/setup installs it";
    }
    image_ = dir_.path("disk.img");
    write_file(image_, std::vector<char>(kImageBytes, 0));
    server_ = std::make_unique<Subprocess>(std::vector<std::string>{
        "/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1", FTVM_BINARY, "disk-server", "--state-dir",
        dir_.path("state"), "--listen", "127.0.0.1:0", "--nbd-listen", "127.0.0.1:0", "--export",
        "vol=" + image_, "--export", "ro=" + image_ + ":ro"});
    ASSERT_TRUE(server_->wait_for_stdout("arbiter: listening", 10s)) << server_->stdout_so_far();
    std::smatch match;
    const std::string out = server_->stdout_so_far();
    ASSERT_TRUE(std::regex_search(out, match, std::regex("nbd: listening on (\\S+)"))) << out;
    uri_ = "nbd://" + match[1].str() + "/";
    ASSERT_TRUE(std::regex_search(out, match, std::regex("arbiter: listening on (\\S+)"))) << out;
    arbiter_ = match[1].str();
  }
  void TearDown() override {
    if (!server_) return;
    server_->send_signal(SIGTERM);
    const ProcessResult result = server_->finish(10s);
    EXPECT_EQ(result.exit_code, 0) << result.out;
  }

  TempDir dir_{"ftvm-nbd"};
  std::string image_;
  std::string uri_;
  std::string arbiter_;
  std::unique_ptr<Subprocess> server_;
};

TEST_F(NbdClientsTest, NbdinfoSeesTheExportsSizesAndFlags) {
  const ProcessResult list = tool({"nbdinfo", "--list", uri_});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("export=\"vol\""), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("export=\"ro\""), std::string::npos) << list.out;
  const ProcessResult vol = tool({"nbdinfo", "--json", uri_ + "vol"});
  ASSERT_EQ(vol.exit_code, 0) << vol.err;
  EXPECT_NE(vol.out.find("\"export-size\": 67108864"), std::string::npos) << vol.out;
  EXPECT_NE(vol.out.find("\"can_multi_conn\": true"), std::string::npos) << vol.out;
  EXPECT_NE(vol.out.find("\"is_read_only\": false"), std::string::npos) << vol.out;
  const ProcessResult ro = tool({"nbdinfo", "--json", uri_ + "ro"});
  EXPECT_NE(ro.out.find("\"is_read_only\": true"), std::string::npos) << ro.out;
}

// 64 MiB of random data in over one connection and back out over four, compared byte for byte,
// and by qemu-img.
TEST_F(NbdClientsTest, NbdcopyInAndOutAndQemuImgCompare) {
  const auto data = random_bytes(kImageBytes, 11);
  write_file(dir_.path("in.bin"), data);
  const ProcessResult in = tool({"nbdcopy", dir_.path("in.bin"), uri_ + "vol"});
  ASSERT_EQ(in.exit_code, 0) << in.err;
  EXPECT_TRUE(read_file(image_) == data) << "the image differs from what nbdcopy wrote";
  const ProcessResult out =
      tool({"nbdcopy", "--connections=4", uri_ + "vol", dir_.path("out.bin")});
  ASSERT_EQ(out.exit_code, 0) << out.err;
  EXPECT_TRUE(read_file(dir_.path("out.bin")) == data) << "nbdcopy read back other bytes";
  const ProcessResult compare =
      tool({"qemu-img", "compare", "-f", "raw", "-F", "raw", dir_.path("in.bin"), uri_ + "vol"});
  EXPECT_EQ(compare.exit_code, 0) << compare.out << compare.err;
  EXPECT_NE(compare.out.find("Images are identical"), std::string::npos) << compare.out;
}

// qemu-io writes patterns (plain and FUA), zeroes and discards, and reads each back with a
// pattern check: "Pattern verification failed" would be a wrong byte.
TEST_F(NbdClientsTest, QemuIoWritesZeroesDiscardsAndReadsBack) {
  const ProcessResult io = tool({"qemu-io", "-f",
                                 "raw",     uri_ + "vol",
                                 "-c",      "write -P 0x5a 1M 64k",
                                 "-c",      "read -P 0x5a 1M 64k",
                                 "-c",      "write -f -P 0x11 8M 4k",
                                 "-c",      "read -P 0x11 8M 4k",
                                 "-c",      "write -P 0x77 2M 256k",
                                 "-c",      "write -z 2M 128k",
                                 "-c",      "read -P 0 2M 128k",
                                 "-c",      "read -P 0x77 2176k 128k",
                                 "-c",      "discard 4M 1M",
                                 "-c",      "aio_write -P 0x33 16M 64k",
                                 "-c",      "aio_write -P 0x44 17M 64k",
                                 "-c",      "aio_flush",
                                 "-c",      "read -P 0x33 16M 64k",
                                 "-c",      "read -P 0x44 17M 64k",
                                 "-c",      "flush"});
  EXPECT_EQ(io.exit_code, 0) << io.out << io.err;
  EXPECT_EQ(io.out.find("Pattern verification failed"), std::string::npos) << io.out;
  EXPECT_EQ(io.err.find("error"), std::string::npos) << io.err;
  const auto image = read_file(image_);
  EXPECT_EQ(image[(8 << 20) + 100], 0x11);
  EXPECT_EQ(image[(2 << 20) + 100], 0);
}

// nbdsh with libnbd's client-side checks off, so bad requests reach the server: each gets the
// error the NBD specification names, and the connection serves on.
TEST_F(NbdClientsTest, NbdshBadRequestsGetTheSpecifiedErrors) {
  const std::string script = R"(
import errno
h.set_strict_mode(0)
size = h.get_size()
def expect(call, code, what):
    try:
        call()
    except nbd.Error as e:
        # libnbd's Python binding gives the errno's name
        assert e.errno == errno.errorcode[code], "%s: %s, expected %s" % (
            what, e.errno, errno.errorcode[code])
        return
    raise AssertionError(what + ": no error")
expect(lambda: h.pread(4096, size - 100), errno.EINVAL, "read past the end")
expect(lambda: h.pwrite(b"x" * 4096, size - 100), errno.ENOSPC, "write past the end")
expect(lambda: h.pread(0, 0), errno.EINVAL, "zero-length read")
expect(lambda: h.pwrite(b"x", 0, 0x10), errno.EINVAL, "a flag the server does not offer")
expect(lambda: h.trim(4096, 2**64 - 100), errno.EINVAL, "offset + length overflows")
assert h.pread(16, 0) == bytes(16)
print("all errors as specified")
)";
  const ProcessResult sh =
      tool({"/usr/bin/python3", "-m", "nbd", "-u", uri_ + "vol", "-c", script});
  EXPECT_EQ(sh.exit_code, 0) << sh.out << sh.err;
  EXPECT_NE(sh.out.find("all errors as specified"), std::string::npos) << sh.out << sh.err;
}

// Fencing at the disk: a side's NBD connection names its writer in the export name
// (EXPORT@VM/GENERATION/INCARNATION). The old primary, still connected, writes; the arbiter
// then decides the generation for the backup's process; the old primary's next write is
// refused with EPERM and never reaches the image, while the backup's lands.
TEST_F(NbdClientsTest, ASideThatLostTheArbiterCanNoLongerWriteTheDisk) {
  const std::string script = R"(
import errno, socket, sys
h.pwrite(b"\x11" * 4096, 0)
host, port = sys.argv[1].rsplit(":", 1)
with socket.create_connection((host, int(port)), timeout=5) as s:
    s.sendall(b"TAS web 3 backup 89abcdef\n")
    answer = s.makefile().readline()
assert answer.startswith("WON"), answer
try:
    h.pwrite(b"\x22" * 4096, 8192)
except nbd.Error as e:
    assert e.errno == errno.errorcode[errno.EPERM], e.errno
    print("the old primary was fenced")
)";
  const ProcessResult stale =
      tool({"/usr/bin/python3", "-m", "nbd", "-u", uri_ + "vol@web/3/0123abcd", "-c",
            "import sys; sys.argv = ['x', '" + arbiter_ + "']\n" + script});
  EXPECT_EQ(stale.exit_code, 0) << stale.out << stale.err;
  EXPECT_NE(stale.out.find("the old primary was fenced"), std::string::npos)
      << stale.out << stale.err;
  const ProcessResult winner = tool({"qemu-io", "-f", "raw", uri_ + "vol@web/3/89abcdef", "-c",
                                     "write -P 0x33 16k 4k", "-c", "flush"});
  EXPECT_EQ(winner.exit_code, 0) << winner.out << winner.err;
  EXPECT_EQ(winner.err.find("error"), std::string::npos) << winner.err;
  const ProcessResult other =
      tool({"qemu-io", "-f", "raw", uri_ + "vol@web/3/0123abcd", "-c", "write -P 0x44 16k 4k"});
  EXPECT_NE(other.out.find("Operation not permitted"), std::string::npos) << other.out << other.err;
  const auto image = read_file(image_);
  EXPECT_EQ(image[0], 0x11);            // written before the decision
  EXPECT_EQ(image[8192 + 100], 0);      // refused after it
  EXPECT_EQ(image[16384 + 100], 0x33);  // the winner's
}

}  // namespace
}  // namespace ftvm
