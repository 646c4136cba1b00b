#include "disk/line_framer.h"

#include <gtest/gtest.h>

#include "disk/protocol.h"

namespace ftvm::disk {
namespace {

std::optional<std::string> next(LineFramer& framer) {
  auto line = framer.next_line();
  EXPECT_TRUE(line.ok()) << line.error().message;
  return line.ok() ? *line : std::nullopt;
}

TEST(LineFramerTest, JoinsPiecesAndSplitsLines) {
  LineFramer framer;
  framer.feed("PI");
  EXPECT_EQ(next(framer), std::nullopt);
  framer.feed("NG\nQUERY vm\r\nTAS");
  EXPECT_EQ(next(framer), "PING");
  EXPECT_EQ(next(framer), "QUERY vm");  // the '\r' of a telnet-style client is dropped
  EXPECT_EQ(next(framer), std::nullopt);
  EXPECT_EQ(framer.pending_bytes(), 3u);
}

TEST(LineFramerTest, AcceptsTheLongestLine) {
  LineFramer framer;
  framer.feed(std::string(kMaxLineBytes - 1, 'x') + "\n");
  EXPECT_EQ(next(framer)->size(), kMaxLineBytes - 1);
}

TEST(LineFramerTest, RejectsALongLineBeforeItsNewline) {
  LineFramer framer;
  framer.feed(std::string(kMaxLineBytes - 1, 'x'));
  EXPECT_TRUE(framer.next_line().ok());
  framer.feed("x");
  auto line = framer.next_line();
  ASSERT_FALSE(line.ok());
  EXPECT_NE(line.error().message.find("line too long"), std::string::npos);
}

TEST(LineFramerTest, RejectsALongCompleteLine) {
  LineFramer framer;
  framer.feed(std::string(kMaxLineBytes, 'x') + "\nPING\n");
  EXPECT_FALSE(framer.next_line().ok());
}

}  // namespace
}  // namespace ftvm::disk
