#include "kernel/command.h"

#include <gtest/gtest.h>

#include <string>

namespace testsvc::kernel {
namespace {

// The returned Command points into `line`, which must outlive it.
Command Parse(const std::string& line) {
  return ParseCommand(line.data(), line.size());
}

std::string Arg(const Command& command) {
  return std::string(command.arg, command.arg_size);
}

TEST(TestsvcParseCommand, KnownCommands) {
  EXPECT_EQ(Parse("help").kind, CommandKind::kHelp);
  EXPECT_EQ(Parse("stats").kind, CommandKind::kStats);
  EXPECT_EQ(Parse("digest").kind, CommandKind::kDigest);
  EXPECT_EQ(Parse("shutdown").kind, CommandKind::kShutdown);
  EXPECT_EQ(Parse("  stats  ignored args").kind, CommandKind::kStats);
}

TEST(TestsvcParseCommand, ComputeTakesOnOrOff) {
  EXPECT_EQ(Parse("compute on").kind, CommandKind::kComputeOn);
  EXPECT_EQ(Parse("compute off").kind, CommandKind::kComputeOff);
  EXPECT_EQ(Parse("  compute   off  ignored").kind, CommandKind::kComputeOff);
  EXPECT_EQ(Parse("compute").kind, CommandKind::kComputeQuery);
  EXPECT_EQ(Parse("compute   ").kind, CommandKind::kComputeQuery);
  EXPECT_EQ(Parse("compute on").arg_size, 0u);
}

TEST(TestsvcParseCommand, ComputeRejectsOtherArguments) {
  const std::string line = "compute  offf now";
  Command c = Parse(line);
  EXPECT_EQ(c.kind, CommandKind::kComputeUsage);
  EXPECT_EQ(Arg(c), "offf");
  EXPECT_EQ(Arg(Parse("compute o")), "o");
  EXPECT_EQ(Arg(Parse("compute ON")), "ON");
  EXPECT_EQ(Parse("computer on").kind, CommandKind::kUnknown);
  EXPECT_EQ(Parse("comp on").kind, CommandKind::kUnknown);
}

TEST(TestsvcParseCommand, DiskTakesOnOffOrVerify) {
  EXPECT_EQ(Parse("disk").kind, CommandKind::kDiskQuery);
  EXPECT_EQ(Parse("disk on").kind, CommandKind::kDiskOn);
  EXPECT_EQ(Parse(" disk  off x").kind, CommandKind::kDiskOff);
  EXPECT_EQ(Parse("disk verify").kind, CommandKind::kDiskVerify);
  const std::string line = "disk wipe";
  Command c = Parse(line);
  EXPECT_EQ(c.kind, CommandKind::kDiskUsage);
  EXPECT_EQ(Arg(c), "wipe");
  EXPECT_EQ(Parse("disks").kind, CommandKind::kUnknown);
}

TEST(TestsvcParseCommand, DiskBurstTakesACount) {
  const std::string line = "disk burst 500";  // the arguments point into the line
  Command c = Parse(line);
  EXPECT_EQ(c.kind, CommandKind::kDiskBurst);
  EXPECT_EQ(Arg(c), "500");
  EXPECT_EQ(ParseBurstCount(c.arg, c.arg_size), 500u);
  const std::string spaced = "disk  burst   7 more";
  c = Parse(spaced);
  EXPECT_EQ(Arg(c), "7");
  const std::string bare = "disk burst";
  c = Parse(bare);
  EXPECT_EQ(c.kind, CommandKind::kDiskBurst);
  EXPECT_EQ(ParseBurstCount(c.arg, c.arg_size), 0u);
  for (const char* bad : {"0", "-1", "1x", "100001", "99999999999999999999", "x"}) {
    EXPECT_EQ(ParseBurstCount(bad, std::string(bad).size()), 0u) << bad;
  }
  EXPECT_EQ(ParseBurstCount("100000", 6), 100000u);
}

TEST(TestsvcParseCommand, NetTakesNoArgument) {
  EXPECT_EQ(Parse("net").kind, CommandKind::kNet);
  EXPECT_EQ(Parse("  net  ").kind, CommandKind::kNet);
  const std::string line = "net stats please";  // the command points into the line
  Command c = Parse(line);
  EXPECT_EQ(c.kind, CommandKind::kNet);
  EXPECT_EQ(c.arg_size, 0u);
  const std::string longer = "network";
  c = Parse(longer);
  EXPECT_EQ(c.kind, CommandKind::kUnknown);
  EXPECT_EQ(Arg(c), "network");
  EXPECT_EQ(Parse("ne").kind, CommandKind::kUnknown);
  EXPECT_EQ(Parse("NET").kind, CommandKind::kUnknown);
  static_assert(ParseCommand("net", 3).kind == CommandKind::kNet);
}

TEST(TestsvcParseCommand, EmptyAndBlankLines) {
  EXPECT_EQ(Parse("").kind, CommandKind::kEmpty);
  EXPECT_EQ(Parse("    ").kind, CommandKind::kEmpty);
}

TEST(TestsvcParseCommand, EchoKeepsTextVerbatim) {
  const std::string line = "echo hello world";
  Command c = Parse(line);
  EXPECT_EQ(c.kind, CommandKind::kEcho);
  EXPECT_EQ(Arg(c), "hello world");
  EXPECT_EQ(Arg(Parse("echo  two  spaces ")), " two  spaces ");
  EXPECT_EQ(Arg(Parse("echo")), "");
  EXPECT_EQ(Arg(Parse("echo ")), "");
}

TEST(TestsvcParseCommand, UnknownReportsTheWord) {
  const std::string line = " xyzzy plugh";
  Command c = Parse(line);
  EXPECT_EQ(c.kind, CommandKind::kUnknown);
  EXPECT_EQ(Arg(c), "xyzzy");
  EXPECT_EQ(Parse("helpme").kind, CommandKind::kUnknown);
  EXPECT_EQ(Parse("hel").kind, CommandKind::kUnknown);
  EXPECT_EQ(Parse("HELP").kind, CommandKind::kUnknown);
}

TEST(TestsvcParseCommand, IsConstexpr) {
  static_assert(ParseCommand("digest", 6).kind == CommandKind::kDigest);
  static_assert(ParseCommand("compute off", 11).kind == CommandKind::kComputeOff);
}

}  // namespace
}  // namespace testsvc::kernel
