#include "kernel/line_editor.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace testsvc::kernel {
namespace {

struct FedLine {
  std::string text;
  bool truncated;
};

template <size_t N>
std::vector<FedLine> FeedAll(LineEditor<N>& editor, const std::string& bytes) {
  std::vector<FedLine> lines;
  for (char c : bytes) {
    if (editor.Feed(static_cast<uint8_t>(c)) == LineEditor<N>::Result::kLine) {
      lines.push_back({std::string(editor.line(), editor.size()), editor.truncated()});
    }
  }
  return lines;
}

TEST(TestsvcLineEditor, SplitsOnCrOrLf) {
  LineEditor<16> editor;
  const auto lines = FeedAll(editor, "help\nstats\rdigest\r\n");
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].text, "help");
  EXPECT_EQ(lines[1].text, "stats");
  EXPECT_EQ(lines[2].text, "digest");
  EXPECT_EQ(lines[3].text, "");  // the LF of CR LF: an empty line, which gets no reply
}

TEST(TestsvcLineEditor, BackspaceAndDeleteRemoveLastCharacter) {
  LineEditor<16> editor;
  const auto lines = FeedAll(editor, "ech\x7fho\x08o\n\x08\x08x\n");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].text, "echo");
  EXPECT_EQ(lines[1].text, "x");  // backspace on an empty line is harmless
}

TEST(TestsvcLineEditor, SanitizesControlAndHighBytes) {
  LineEditor<16> editor;
  const auto lines = FeedAll(editor, std::string("a\tb\x01\x1b"
                                                 "c\xc3\xa9\n"));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].text, "a bc??");
}

TEST(TestsvcLineEditor, TruncatesOverlongLinesAndRecovers) {
  LineEditor<4> editor;
  const auto lines = FeedAll(editor, "abcdefgh\nok\n");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].text, "abcd");
  EXPECT_TRUE(lines[0].truncated);
  EXPECT_EQ(lines[1].text, "ok");
  EXPECT_FALSE(lines[1].truncated);
}

}  // namespace
}  // namespace testsvc::kernel
