// Real sockets on loopback. No assertion depends on timing; timeouts are only upper bounds
// that keep a broken test from hanging.
#include "logging_channel/tcp.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <future>
#include <numeric>
#include <thread>

namespace ftvm::channel {
namespace {

using namespace std::chrono_literals;

struct Listening {
  UniqueFd fd;
  Endpoint at;
};

Listening listen_on_any_port(const std::string& host) {
  auto fd = listen_tcp(Endpoint{host, 0});
  EXPECT_TRUE(fd.ok()) << fd.error().message;
  if (!fd.ok()) return {};
  auto at = local_endpoint(fd->get());
  EXPECT_TRUE(at.ok()) << at.error().message;
  EXPECT_NE(at->port, 0);
  return {std::move(*fd), *at};
}

std::vector<uint8_t> receive_exactly(int fd, size_t count) {
  std::vector<uint8_t> received;
  std::vector<uint8_t> buffer(64 * 1024);
  while (received.size() < count) {
    auto got = receive_some(fd, buffer, 10s);
    if (!got.ok() || !got->has_value() || **got == 0) break;
    received.insert(received.end(), buffer.begin(), buffer.begin() + static_cast<long>(**got));
  }
  return received;
}

void check_transfer(const std::string& host) {
  Listening server = listen_on_any_port(host);
  ASSERT_TRUE(server.fd.valid());
  auto connecting = std::async(std::launch::async, [&] { return connect_tcp(server.at, 10s); });
  auto accepted = accept_tcp(server.fd.get(), 10s);
  ASSERT_TRUE(accepted.ok()) << accepted.error().message;
  auto client = connecting.get();
  ASSERT_TRUE(client.ok()) << client.error().message;

  // More than the socket buffers hold, so send_all must wait for the reader and resume.
  std::vector<uint8_t> bytes(8 << 20);
  std::iota(bytes.begin(), bytes.end(), uint8_t{0});
  auto sending =
      std::async(std::launch::async, [&] { return send_all(client->get(), bytes, 10s); });
  const auto received = receive_exactly(accepted->get(), bytes.size());
  auto sent = sending.get();
  ASSERT_TRUE(sent.ok()) << sent.error().message;
  EXPECT_EQ(received, bytes);
}

TEST(TcpTest, ListenConnectSendAcceptOnIpv4Loopback) {
  check_transfer("127.0.0.1");
}

TEST(TcpTest, ListenConnectSendAcceptOnIpv6Loopback) {
  auto probe = listen_tcp(Endpoint{"::1", 0});
  if (!probe.ok()) GTEST_SKIP() << "no IPv6 loopback here: " << probe.error().message;
  check_transfer("::1");
}

TEST(TcpTest, ClosedConnectionReadsAsEndOfStream) {
  Listening server = listen_on_any_port("127.0.0.1");
  auto client = connect_tcp(server.at, 10s);
  ASSERT_TRUE(client.ok()) << client.error().message;
  auto accepted = accept_tcp(server.fd.get(), 10s);
  ASSERT_TRUE(accepted.ok()) << accepted.error().message;
  client->reset();
  std::vector<uint8_t> buffer(16);
  auto got = receive_some(accepted->get(), buffer, 10s);
  ASSERT_TRUE(got.ok()) << got.error().message;
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, 0u);
}

TEST(TcpTest, ReceiveTimesOutWithNothing) {
  Listening server = listen_on_any_port("127.0.0.1");
  auto client = connect_tcp(server.at, 10s);
  ASSERT_TRUE(client.ok()) << client.error().message;
  auto accepted = accept_tcp(server.fd.get(), 10s);
  ASSERT_TRUE(accepted.ok());
  std::vector<uint8_t> buffer(16);
  auto got = receive_some(accepted->get(), buffer, 1ms);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_FALSE(got->has_value());
}

TEST(TcpTest, ConnectToAClosedPortFailsAfterTheTimeout) {
  Endpoint closed;
  {
    Listening server = listen_on_any_port("127.0.0.1");
    closed = server.at;
  }  // closed again: nothing listens on that port now
  auto client = connect_tcp(closed, 100ms);
  ASSERT_FALSE(client.ok());
  EXPECT_NE(client.error().message.find("peer unreachable at " + closed.to_string()),
            std::string::npos)
      << client.error().message;
}

TEST(TcpTest, AcceptTimesOut) {
  Listening server = listen_on_any_port("127.0.0.1");
  auto accepted = accept_tcp(server.fd.get(), 1ms);
  ASSERT_FALSE(accepted.ok());
  EXPECT_NE(accepted.error().message.find("no peer connected"), std::string::npos);
}

TEST(TcpTest, AddressInUse) {
  Listening first = listen_on_any_port("127.0.0.1");
  auto second = listen_tcp(first.at);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("address in use"), std::string::npos)
      << second.error().message;
  EXPECT_NE(second.error().message.find("--listen"), std::string::npos);
}

TEST(TcpTest, UnresolvableHost) {
  auto fd = connect_tcp(Endpoint{"no-such-host.invalid", 1}, 100ms);
  ASSERT_FALSE(fd.ok());
  EXPECT_NE(fd.error().message.find("cannot resolve host 'no-such-host.invalid'"),
            std::string::npos)
      << fd.error().message;
}

// From the code, before: the timeout bounded the whole frame, so a large checkpoint chunk over a
// slow link declared a live backup lost. A reader that keeps taking bytes, slower in all than
// the timeout but never pausing that long, is no timeout.
TEST(TcpTest, ASlowReaderThatKeepsReadingIsNoTimeout) {
  Listening server = listen_on_any_port("127.0.0.1");
  auto connecting = std::async(std::launch::async, [&] { return connect_tcp(server.at, 10s); });
  auto accepted = accept_tcp(server.fd.get(), 10s);
  ASSERT_TRUE(accepted.ok()) << accepted.error().message;
  auto client = connecting.get();
  ASSERT_TRUE(client.ok()) << client.error().message;
  const int small = 16 * 1024;  // so the kernel's buffers cannot hide how slow the reader is
  ::setsockopt(client->get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  ::setsockopt(accepted->get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);

  const std::vector<uint8_t> bytes(1 << 20, 7);
  auto sending =
      std::async(std::launch::async, [&] { return send_all(client->get(), bytes, 800ms); });
  size_t received = 0;
  std::vector<uint8_t> buffer(16 * 1024);
  const auto started = std::chrono::steady_clock::now();
  while (received < bytes.size()) {
    std::this_thread::sleep_for(40ms);
    auto got = receive_some(accepted->get(), buffer, 10s);
    ASSERT_TRUE(got.ok() && got->has_value() && **got > 0);
    received += **got;
  }
  auto sent = sending.get();
  EXPECT_TRUE(sent.ok()) << sent.error().message;
  EXPECT_GT(std::chrono::steady_clock::now() - started, 800ms)
      << "the reader was not slower than the timeout: the test shows nothing";
}

TEST(TcpTest, SendToAClosedPeerFailsWithoutSigpipe) {
  Listening server = listen_on_any_port("127.0.0.1");
  auto client = connect_tcp(server.at, 10s);
  ASSERT_TRUE(client.ok());
  {
    auto accepted = accept_tcp(server.fd.get(), 10s);
    ASSERT_TRUE(accepted.ok());
  }  // the peer closes
  const std::vector<uint8_t> bytes(64 * 1024, 1);
  Result<void> sent;
  for (int i = 0; i < 100 && sent.ok(); ++i) sent = send_all(client->get(), bytes, 10s);
  ASSERT_FALSE(sent.ok());
  EXPECT_NE(sent.error().message.find("the peer closed or reset the connection"), std::string::npos)
      << sent.error().message;
}

}  // namespace
}  // namespace ftvm::channel
