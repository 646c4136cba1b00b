// The server and client together on 127.0.0.1: decisions, atomicity under racing clients,
// malformed input, and what a client sees when nothing answers.
#include "disk/arbiter_server.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <thread>

#include "disk/arbiter_client.h"
#include "disk/line_auth.h"
#include "disk/tcp_listener.h"
#include "temp_dir.h"

namespace ftvm::disk {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

// A server on a free loopback port, serving on its own thread.
class RunningServer {
 public:
  explicit RunningServer(ArbiterServer::Options options = {}) {
    auto store = ArbiterStore::open(dir_.path());
    EXPECT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(*store);
    auto listener = listen_tcp("127.0.0.1:0");
    EXPECT_TRUE(listener.ok()) << listener.error().message;
    address_ = *local_address(listener->get());
    options.on_decision = [this](const Decision&) { ++decisions_; };
    auto server = ArbiterServer::create(std::move(*listener), *store_, std::move(options));
    EXPECT_TRUE(server.ok());
    server_ = std::move(*server);
    thread_ = std::thread([this] { EXPECT_TRUE(server_->run().ok()); });
  }
  ~RunningServer() {
    server_->stop();
    thread_.join();
  }
  const std::string& address() const { return address_; }
  int decisions() const { return decisions_; }
  size_t unsent_bytes() const { return server_->unsent_bytes(); }

 private:
  TempDir dir_;
  std::unique_ptr<ArbiterStore> store_;
  std::unique_ptr<ArbiterServer> server_;
  std::string address_;
  std::atomic<int> decisions_{0};
  std::thread thread_;
};

// A raw connection, for what the client library would never send.
class RawConnection {
 public:
  // `receive_buffer`: the socket's receive buffer, if not the system's (a small one makes the
  // server's replies back up on its side).
  explicit RawConnection(const std::string& address, int receive_buffer = 0) {
    auto port = parse_host_port(address)->port;
    fd_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (receive_buffer > 0) {
      ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd_.get(), reinterpret_cast<sockaddr*>(&in), sizeof in), 0);
    timeval timeout{5, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  void send(const std::string& bytes) {
    EXPECT_EQ(::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  void shutdown_write() { ::shutdown(fd_.get(), SHUT_WR); }
  // Sends `block` repeatedly, up to `budget` bytes or until the socket would block: a client
  // that writes as fast as it can and reads nothing. Returns the bytes sent.
  size_t send_nonblocking(size_t budget, const std::string& block) {
    size_t sent = 0;
    while (sent < budget) {
      const ssize_t n = ::send(fd_.get(), block.data(), block.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    return sent;
  }
  // One line (or whatever came before 5 s passed).
  std::string receive_line() {
    std::string line;
    char c;
    while (::recv(fd_.get(), &c, 1, 0) == 1) {
      line.push_back(c);
      if (c == '\n') break;
    }
    return line;
  }
  // Everything until the server closes (or 5 s pass).
  std::string receive_all() {
    std::string all;
    char buffer[512];
    for (ssize_t n; (n = ::recv(fd_.get(), buffer, sizeof buffer, 0)) > 0;) {
      all.append(buffer, static_cast<size_t>(n));
    }
    return all;
  }

 private:
  UniqueFd fd_;
};

constexpr const char* kPrimaryProcess = "00000000000000a1";
constexpr const char* kBackupProcess = "00000000000000b1";

TEST(ArbiterServerTest, AnswersPingQueryAndTestAndSet) {
  RunningServer server;
  ASSERT_TRUE(ping(server.address(), 2s).ok());
  auto none = query(server.address(), {}, "vm", 2s);
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_FALSE(none->has_value());

  auto won = test_and_set(server.address(), {}, {"vm", 1, "backup", kBackupProcess}, 2s);
  ASSERT_TRUE(won.ok()) << won.error().message;
  EXPECT_TRUE(won->won);
  auto lost = test_and_set(server.address(), {}, {"vm", 1, "primary", kPrimaryProcess}, 2s);
  ASSERT_TRUE(lost.ok()) << lost.error().message;
  EXPECT_FALSE(lost->won);
  EXPECT_EQ(lost->winner, "backup");
  auto winner = query(server.address(), {}, "vm", 2s);
  ASSERT_TRUE(winner.ok());
  EXPECT_EQ(**winner, (Winner{"backup", 1, ""})) << "QUERY names the side, not its process";
  EXPECT_EQ(server.decisions(), 2);
}

TEST(ArbiterServerTest, ExactlyOneOfTwoRacingSidesWinsEachGeneration) {
  RunningServer server;
  constexpr int kRounds = 50;
  for (int round = 0; round < kRounds; ++round) {
    std::atomic<int> winners{0}, answers{0};
    auto contend = [&](const std::string& side) {
      auto outcome =
          test_and_set(server.address(), {},
                       {"race", static_cast<uint64_t>(round), side, new_incarnation()}, 5s);
      ASSERT_TRUE(outcome.ok()) << outcome.error().message;
      ++answers;
      if (outcome->won) ++winners;
    };
    std::thread primary(contend, "primary"), backup(contend, "backup");
    primary.join();
    backup.join();
    ASSERT_EQ(answers, 2) << "round " << round;
    ASSERT_EQ(winners, 1) << "round " << round;
  }
}

TEST(ArbiterServerTest, ManyClientsAtOnce) {
  RunningServer server;
  std::vector<std::thread> clients;
  std::atomic<int> winners{0};
  for (int i = 0; i < 16; ++i) {
    clients.emplace_back([&, i] {
      auto outcome = test_and_set(server.address(), {},
                                  {"crowd", 1, "side-" + std::to_string(i), new_incarnation()}, 5s);
      ASSERT_TRUE(outcome.ok()) << outcome.error().message;
      if (outcome->won) ++winners;
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(winners, 1);
}

TEST(ArbiterServerTest, ServesSeveralRequestsOnOneConnection) {
  RunningServer server;
  RawConnection connection(server.address());
  connection.send("PING\nTAS vm 2 backup 0123456789abcdef\nQUERY vm\n");
  connection.shutdown_write();  // the server answers what it got, then closes
  EXPECT_EQ(connection.receive_all(), "PONG\nWON 2\nWINNER backup 2\n");
}

TEST(ArbiterServerTest, AMalformedRequestGetsErrAndTheConnectionCloses) {
  RunningServer server;
  RawConnection connection(server.address());
  connection.send("TAS vm 01 backup 0123456789abcdef\nPING\n");
  const std::string reply = connection.receive_all();
  EXPECT_TRUE(reply.starts_with("ERR invalid generation '01'")) << reply;
  EXPECT_EQ(reply.find("PONG"), std::string::npos) << "served after an error: " << reply;
}

TEST(ArbiterServerTest, AnOverlongLineGetsErrAndTheConnectionCloses) {
  RunningServer server;
  RawConnection connection(server.address());
  connection.send(std::string(300, 'A'));
  const std::string reply = connection.receive_all();
  EXPECT_TRUE(reply.starts_with("ERR line too long")) << reply;
}

TEST(ArbiterServerTest, ClosesStalledConnections) {
  ArbiterServer::Options options;
  options.idle_timeout = 200ms;
  RunningServer server(options);
  RawConnection connection(server.address());
  connection.send("PIN");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(connection.receive_all(), "");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_TRUE(ping(server.address(), 2s).ok());
}

TEST(ArbiterServerTest, AClosedPortIsAnErrorQuickly) {
  std::string address;
  {
    auto listener = listen_tcp("127.0.0.1:0");
    ASSERT_TRUE(listener.ok());
    address = *local_address(listener->get());
  }
  const auto start = std::chrono::steady_clock::now();
  auto outcome = test_and_set(address, {}, {"vm", 1, "backup", kBackupProcess}, 2s);
  ASSERT_FALSE(outcome.ok());
  EXPECT_TRUE(outcome.error().message.starts_with("arbiter unreachable at " + address + ": "))
      << outcome.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST(ArbiterServerTest, ASilentPeerTimesOut) {
  // Listening but never accepting: the connection completes in the backlog, no reply comes.
  auto listener = listen_tcp("127.0.0.1:0");
  ASSERT_TRUE(listener.ok());
  const std::string address = *local_address(listener->get());
  auto outcome = ping(address, 300ms);
  ASSERT_FALSE(outcome.ok());
  EXPECT_NE(outcome.error().message.find("timed out"), std::string::npos)
      << outcome.error().message;
}

TEST(ArbiterServerTest, StopBeforeRunReturnsAtOnce) {
  TempDir dir;
  auto store = ArbiterStore::open(dir.path());
  ASSERT_TRUE(store.ok());
  auto listener = listen_tcp("127.0.0.1:0");
  ASSERT_TRUE(listener.ok());
  auto server = ArbiterServer::create(std::move(*listener), **store, {});
  ASSERT_TRUE(server.ok());
  (*server)->stop();
  EXPECT_TRUE((*server)->run().ok());
}

// Seen before: one client that pipelined PINGs and never read its replies grew the arbiter
// from 10 MB to 258 MB in 14 s. Now it is not read from while its replies wait.
TEST(ArbiterServerTest, AClientThatNeverReadsHoldsABoundedAmount) {
  ArbiterServer::Options options;
  options.max_unsent_bytes = 4096;
  RunningServer server(options);
  RawConnection greedy(server.address(), 4096);
  std::string pings;
  for (int i = 0; i < 8192; ++i) pings += "PING\n";
  size_t sent = 0;
  for (int round = 0; round < 20; ++round) {  // until the socket buffers are full too
    sent += greedy.send_nonblocking(size_t{64} << 20, pings);
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_GT(sent, size_t{1} << 20) << "the server stopped reading sooner than expected";
  // One read's worth of replies (4 KiB of requests) on top of the bound, at most.
  EXPECT_LE(server.unsent_bytes(), options.max_unsent_bytes + 4096 / 5 * 5 + 5);
  auto ok = ping(server.address(), 2s);
  EXPECT_TRUE(ok.ok()) << ok.error().message;
}

// Seen before: 512 held connections made a legitimate TAS get "too many connections", and a
// side that gets only errors halts. Now the least recently active connection is shed.
TEST(ArbiterServerTest, HeldConnectionsDoNotLockASideOut) {
  ArbiterServer::Options options;
  options.max_connections = 8;
  RunningServer server(options);
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < 16; ++i) held.push_back(std::make_unique<RawConnection>(server.address()));
  std::this_thread::sleep_for(100ms);
  auto won = test_and_set(server.address(), {}, {"vm", 1, "backup", kBackupProcess}, 2s);
  ASSERT_TRUE(won.ok()) << won.error().message;
  EXPECT_TRUE(won->won);
}

// ---- With the pair's key (issue 11, item 6) -------------------------------------------------

const std::vector<uint8_t> kKey(32, 0x42);
const std::vector<uint8_t> kOtherKey(32, 0x43);

ArbiterServer::Options keyed_options() {
  ArbiterServer::Options options;
  options.key = kKey;
  return options;
}

// Before, any local process could send `TAS pair 2 x` and make every generation-1 request of
// the pair lose. With a key, an unsigned or wrongly signed request decides nothing.
TEST(KeyedArbiterTest, UnsignedAndWronglySignedRequestsDecideNothing) {
  RunningServer server(keyed_options());
  RawConnection forger(server.address());
  forger.send("TAS vm 2 intruder 0000000000000bad\n");
  EXPECT_TRUE(forger.receive_all().starts_with(
      "ERR this arbiter takes only requests signed with its --key-file"));
  auto other_key =
      test_and_set(server.address(), kOtherKey, {"vm", 2, "intruder", kBackupProcess}, 2s);
  ASSERT_FALSE(other_key.ok());
  EXPECT_NE(other_key.error().message.find("wrong signature"), std::string::npos)
      << other_key.error().message;
  EXPECT_EQ(server.decisions(), 0);

  auto won = test_and_set(server.address(), kKey, {"vm", 1, "backup", kBackupProcess}, 2s);
  ASSERT_TRUE(won.ok()) << won.error().message;
  EXPECT_TRUE(won->won);
  auto winner = query(server.address(), kKey, "vm", 2s);
  ASSERT_TRUE(winner.ok()) << winner.error().message;
  EXPECT_EQ((*winner)->side, "backup");
  EXPECT_TRUE(ping(server.address(), 2s).ok());  // liveness needs no key
}

// Capacity is kept for sides: at the connection limit, a connection that never sent a signed
// request goes before one that did. Before, the side's connection (the least recently active)
// was the one shed when a flood of idle connections arrived after it.
TEST(KeyedArbiterTest, AFloodOfIdleConnectionsDoesNotShedASide) {
  ArbiterServer::Options options = keyed_options();
  options.max_connections = 4;
  RunningServer server(options);
  RawConnection side(server.address());
  const std::string first = "QUERY vm";
  side.send(sign_request(kKey, first) + "\n");
  const std::string reply = side.receive_line();
  ASSERT_FALSE(reply.empty());
  std::vector<std::unique_ptr<RawConnection>> flood;
  for (int i = 0; i < 8; ++i) {
    flood.push_back(std::make_unique<RawConnection>(server.address()));
    std::this_thread::sleep_for(5ms);
  }
  std::this_thread::sleep_for(100ms);
  const std::string second = "TAS vm 1 backup " + std::string(kBackupProcess);
  side.send(sign_request(kKey, second) + "\n");
  std::string answer = side.receive_line();
  ASSERT_FALSE(answer.empty()) << "the side's connection was shed";
  answer.pop_back();
  auto opened = open_reply(kKey, second, answer);
  ASSERT_TRUE(opened.ok()) << opened.error().message << ": " << answer;
  EXPECT_EQ(*opened, "WON 1");
}

TEST(KeyedArbiterTest, RepliesAreSignedForTheirRequest) {
  RunningServer server(keyed_options());
  RawConnection connection(server.address());
  const std::string request = "TAS vm 1 primary " + std::string(kPrimaryProcess);
  connection.send(sign_request(kKey, request) + "\n");
  connection.shutdown_write();
  std::string reply = connection.receive_all();
  ASSERT_FALSE(reply.empty());
  reply.pop_back();
  auto opened = open_reply(kKey, request, reply);
  ASSERT_TRUE(opened.ok()) << opened.error().message << ": " << reply;
  EXPECT_EQ(*opened, "WON 1");
  // The same reply does not answer another request.
  EXPECT_FALSE(open_reply(kKey, "TAS vm 1 primary 00000000000000a2", reply).ok());
}

// Someone who got the port first answers WON to everyone: a keyed side must not believe it.
TEST(KeyedArbiterTest, AnUnsignedWonFromAnImpostorIsNoAnswer) {
  auto listener = listen_tcp("127.0.0.1:0");
  ASSERT_TRUE(listener.ok());
  const std::string address = *local_address(listener->get());
  std::thread impostor([fd = listener->get()] {
    pollfd ready{fd, POLLIN, 0};  // the listener is non-blocking: wait for the side to connect
    ASSERT_EQ(::poll(&ready, 1, 5000), 1);
    UniqueFd client(::accept(fd, nullptr, nullptr));
    char buffer[512];
    [[maybe_unused]] auto n = ::recv(client.get(), buffer, sizeof buffer, 0);
    ::send(client.get(), "WON 1\n", 6, MSG_NOSIGNAL);
  });
  auto outcome = test_and_set(address, kKey, {"vm", 1, "backup", kBackupProcess}, 2s);
  impostor.join();
  ASSERT_FALSE(outcome.ok());
  EXPECT_NE(outcome.error().message.find("is not signed"), std::string::npos)
      << outcome.error().message;
}

TEST(KeyedArbiterTest, AKeyedSideAtAnUnkeyedArbiterIsToldWhy) {
  RunningServer server;
  auto outcome = test_and_set(server.address(), kKey, {"vm", 1, "backup", kBackupProcess}, 2s);
  ASSERT_FALSE(outcome.ok());
  EXPECT_NE(outcome.error().message.find("does the disk server have the same one?"),
            std::string::npos)
      << outcome.error().message;
  EXPECT_EQ(server.decisions(), 0);
}

}  // namespace
}  // namespace ftvm::disk
