// ControlServer and send_control_command over a socket in a temp dir.
#include "pair/control_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "subprocess.h"

namespace ftvm {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

ControlServer::Handlers sample_handlers() {
  return {
      {"status", [](const std::string&) { return std::string(R"({"role":"backup","lag":3})"); }},
      {"cut-channel", [](const std::string& args) { return "cut for " + args; }},
      {"broken", [](const std::string&) -> std::string { throw std::runtime_error("no channel"); }},
  };
}

std::unique_ptr<ControlServer> start(const std::string& path) {
  auto server = ControlServer::start(path, sample_handlers());
  EXPECT_TRUE(server.ok()) << server.error().message;
  return server.ok() ? std::move(*server) : nullptr;
}

TEST(ControlServerTest, AnswersCommands) {
  TempDir dir;
  const std::string path = dir.path("control.sock");
  auto server = start(path);
  auto status = send_control_command(path, "status", 2s);
  ASSERT_TRUE(status.ok()) << status.error().message;
  EXPECT_EQ(*status, "{\"role\":\"backup\",\"lag\":3}\n");
  auto cut = send_control_command(path, "cut-channel 5s", 2s);
  ASSERT_TRUE(cut.ok()) << cut.error().message;
  EXPECT_EQ(*cut, "cut for 5s\n");
}

TEST(ControlServerTest, UnknownCommandsAndFailedHandlersAreErrors) {
  TempDir dir;
  const std::string path = dir.path("control.sock");
  auto server = start(path);
  auto unknown = send_control_command(path, "reboot", 2s);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message,
            "unknown command 'reboot'; this side knows: broken, cut-channel, status");
  auto broken = send_control_command(path, "broken", 2s);
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().message, "command 'broken' failed: no channel");
}

TEST(ControlServerTest, RemovesItsSocketFile) {
  TempDir dir;
  const std::string path = dir.path("control.sock");
  start(path).reset();
  EXPECT_FALSE(std::filesystem::exists(path));
  auto reply = send_control_command(path, "status", 2s);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().message, "no ftvm side is running with control socket " + path);
}

TEST(ControlServerTest, ReplacesAStaleSocketFile) {
  TempDir dir;
  const std::string path = dir.path("control.sock");
  {
    // What a side killed with SIGKILL leaves: a socket file nobody listens on.
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strcpy(address.sun_path, path.c_str());
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  }
  ASSERT_TRUE(std::filesystem::is_socket(path));
  EXPECT_FALSE(send_control_command(path, "status", 2s).ok());
  auto server = start(path);
  EXPECT_TRUE(send_control_command(path, "status", 2s).ok());
}

TEST(ControlServerTest, RefusesAPathALiveSideAnswersOn) {
  TempDir dir;
  const std::string path = dir.path("control.sock");
  auto first = start(path);
  auto second = ControlServer::start(path, sample_handlers());
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("already running"), std::string::npos);
  EXPECT_TRUE(send_control_command(path, "status", 2s).ok());
}

TEST(ControlServerTest, RefusesToReplaceAFileThatIsNotASocket) {
  TempDir dir;
  const std::string path = dir.path("notes.txt");
  std::ofstream(path) << "keep me";
  auto server = ControlServer::start(path, sample_handlers());
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.error().message.find("is not a socket"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace ftvm
