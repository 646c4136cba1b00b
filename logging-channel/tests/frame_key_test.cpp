#include "logging_channel/frame_key.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace ftvm::channel {
namespace {

class FrameKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/ftvm-key-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    for (const auto& path : written_) ::unlink(path.c_str());
    ::rmdir(dir_.c_str());
  }
  std::string write(const std::string& name, const std::string& contents) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << contents;
    written_.push_back(path);
    return path;
  }

  std::string dir_;
  std::vector<std::string> written_;
};

TEST_F(FrameKeyTest, NoneIsNotAuthenticated) {
  EXPECT_FALSE(FrameKey::none().authenticated());
  EXPECT_TRUE(FrameKey::none().bytes().empty());
}

TEST_F(FrameKeyTest, ReadsTheWholeFile) {
  const std::string contents = "0123456789abcdef-and-a-newline\n";
  auto key = FrameKey::from_file(write("key", contents));
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_TRUE(key->authenticated());
  EXPECT_EQ(std::string(key->bytes().begin(), key->bytes().end()), contents);
}

TEST_F(FrameKeyTest, ShortFileIsRefusedNamingThePath) {
  const std::string path = write("short", "fifteen bytes!!");
  auto key = FrameKey::from_file(path);
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.error().message.find(path), std::string::npos) << key.error().message;
  EXPECT_NE(key.error().message.find("15 bytes, too short"), std::string::npos);
}

TEST_F(FrameKeyTest, MissingFileNamesThePath) {
  auto key = FrameKey::from_file(dir_ + "/absent");
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.error().message.find(dir_ + "/absent"), std::string::npos);
}

TEST_F(FrameKeyTest, HugeFileIsRefused) {
  auto key = FrameKey::from_file(write("huge", std::string(kMaxKeyBytes + 1, 'k')));
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.error().message.find("right file"), std::string::npos);
}

TEST_F(FrameKeyTest, CopiesAndMovesKeepTheBytes) {
  const std::vector<uint8_t> bytes(32, 0xab);
  auto key = FrameKey::from_bytes(bytes);
  ASSERT_TRUE(key.ok());
  FrameKey copy = *key;
  FrameKey moved = std::move(copy);
  EXPECT_TRUE(std::equal(moved.bytes().begin(), moved.bytes().end(), bytes.begin(), bytes.end()));
  moved = FrameKey::none();
  EXPECT_FALSE(moved.authenticated());
}

}  // namespace
}  // namespace ftvm::channel
