// The guest's TCP (kernel/tcp.h), fed segments built here byte by byte; what it sends is parsed
// and checksummed here independently of the header.
#include "kernel/tcp.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

// Segments are written as designated initializers naming only what differs from the
// defaults, which GCC 12 warns about.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace testsvc::kernel::net::tcp {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr Interface kSelf = {{0x02, 0x46, 0x54, 0x56, 0x4d, 0x01}, {10, 78, 0, 2}};
constexpr std::array<uint8_t, 6> kPeerMac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
constexpr std::array<uint8_t, 4> kPeerIp = {10, 78, 0, 10};
constexpr uint16_t kPeerPort = 40000;

uint16_t ReferenceChecksum(const Bytes& bytes) {
  uint32_t sum = 0;
  for (size_t i = 0; i < bytes.size(); ++i)
    sum += (i % 2 == 0) ? uint32_t{bytes[i]} << 8 : bytes[i];
  while (sum > 0xffff) sum = (sum >> 16) + (sum & 0xffff);
  return static_cast<uint16_t>(~sum & 0xffff);
}

void Put16(Bytes& out, uint32_t value) {
  out.push_back(static_cast<uint8_t>(value >> 8));
  out.push_back(static_cast<uint8_t>(value));
}
void Put32(Bytes& out, uint32_t value) {
  Put16(out, value >> 16);
  Put16(out, value & 0xffff);
}
uint32_t Get16(const Bytes& in, size_t at) {
  return uint32_t{in.at(at)} << 8 | in.at(at + 1);
}
uint32_t Get32(const Bytes& in, size_t at) {
  return Get16(in, at) << 16 | Get16(in, at + 2);
}

Bytes Text(const std::string& text) {
  return Bytes(text.begin(), text.end());
}
std::string AsText(const Bytes& bytes) {
  return std::string(bytes.begin(), bytes.end());
}

// The TCP segment (header and data) with its checksum over the pseudo header.
Bytes TcpWithChecksum(Bytes tcp, const std::array<uint8_t, 4>& source,
                      const std::array<uint8_t, 4>& destination) {
  Bytes pseudo(source.begin(), source.end());
  pseudo.insert(pseudo.end(), destination.begin(), destination.end());
  Put16(pseudo, 6);
  Put16(pseudo, static_cast<uint32_t>(tcp.size()));
  pseudo.insert(pseudo.end(), tcp.begin(), tcp.end());
  const uint16_t checksum = ReferenceChecksum(pseudo);
  tcp[16] = static_cast<uint8_t>(checksum >> 8);
  tcp[17] = static_cast<uint8_t>(checksum);
  return tcp;
}

// A segment from the peer.
struct In {
  uint16_t source_port = kPeerPort;
  uint16_t destination_port = kServicePort;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = kAck;
  uint16_t window = 65535;
  int mss = -1;  // the option, if >= 0
  Bytes data;
};

Bytes Frame(const In& in) {
  Bytes tcp;
  Put16(tcp, in.source_port);
  Put16(tcp, in.destination_port);
  Put32(tcp, in.seq);
  Put32(tcp, in.ack);
  const size_t header = in.mss >= 0 ? 24 : 20;
  tcp.push_back(static_cast<uint8_t>(header / 4 << 4));
  tcp.push_back(in.flags);
  Put16(tcp, in.window);
  Put16(tcp, 0);
  Put16(tcp, 0);
  if (in.mss >= 0) {
    tcp.insert(tcp.end(), {2, 4});
    Put16(tcp, static_cast<uint32_t>(in.mss));
  }
  tcp.insert(tcp.end(), in.data.begin(), in.data.end());
  const std::array<uint8_t, 4> self_ip = {10, 78, 0, 2};
  tcp = TcpWithChecksum(tcp, kPeerIp, self_ip);

  Bytes frame(kSelf.mac, kSelf.mac + 6);
  frame.insert(frame.end(), kPeerMac.begin(), kPeerMac.end());
  Put16(frame, 0x0800);
  Bytes ip = {0x45, 0};
  Put16(ip, static_cast<uint32_t>(20 + tcp.size()));
  Put32(ip, 0x00004000);  // identification 0, DF
  ip.insert(ip.end(), {64, 6, 0, 0});
  ip.insert(ip.end(), kPeerIp.begin(), kPeerIp.end());
  ip.insert(ip.end(), self_ip.begin(), self_ip.end());
  const uint16_t ip_checksum = ReferenceChecksum(ip);
  ip[10] = static_cast<uint8_t>(ip_checksum >> 8);
  ip[11] = static_cast<uint8_t>(ip_checksum);
  frame.insert(frame.end(), ip.begin(), ip.end());
  frame.insert(frame.end(), tcp.begin(), tcp.end());
  return frame;
}

// A segment the stack sent, parsed here.
struct Out {
  uint16_t source_port = 0;
  uint16_t destination_port = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;
  int mss = -1;
  Bytes data;
  bool Has(uint8_t flag) const { return (flags & flag) != 0; }
};

Out ParseOut(const Bytes& frame) {
  EXPECT_GE(frame.size(), 60u);
  EXPECT_EQ(Bytes(frame.begin(), frame.begin() + 6), Bytes(kPeerMac.begin(), kPeerMac.end()));
  EXPECT_EQ(Bytes(frame.begin() + 6, frame.begin() + 12), Bytes(kSelf.mac, kSelf.mac + 6));
  EXPECT_EQ(Get16(frame, 12), 0x0800u);
  const Bytes ip(frame.begin() + 14, frame.begin() + 34);
  EXPECT_EQ(ip[0], 0x45);
  EXPECT_EQ(ip[9], 6);
  EXPECT_EQ(ReferenceChecksum(ip), 0);
  EXPECT_EQ(Bytes(ip.begin() + 12, ip.begin() + 16), Bytes(kSelf.ip, kSelf.ip + 4));
  EXPECT_EQ(Bytes(ip.begin() + 16, ip.begin() + 20), Bytes(kPeerIp.begin(), kPeerIp.end()));
  const size_t total = Get16(ip, 2);
  EXPECT_LE(14 + total, frame.size());
  const Bytes tcp(frame.begin() + 34, frame.begin() + 14 + static_cast<long>(total));
  Bytes pseudo(kSelf.ip, kSelf.ip + 4);
  pseudo.insert(pseudo.end(), kPeerIp.begin(), kPeerIp.end());
  Put16(pseudo, 6);
  Put16(pseudo, static_cast<uint32_t>(tcp.size()));
  pseudo.insert(pseudo.end(), tcp.begin(), tcp.end());
  EXPECT_EQ(ReferenceChecksum(pseudo), 0) << "TCP checksum";
  Out out;
  out.source_port = static_cast<uint16_t>(Get16(tcp, 0));
  out.destination_port = static_cast<uint16_t>(Get16(tcp, 2));
  out.seq = Get32(tcp, 4);
  out.ack = Get32(tcp, 8);
  const size_t header = static_cast<size_t>(tcp[12] >> 4) * 4;
  out.flags = tcp[13];
  out.window = static_cast<uint16_t>(Get16(tcp, 14));
  if (header == 24) {
    EXPECT_EQ(tcp[20], 2);
    EXPECT_EQ(tcp[21], 4);
    out.mss = static_cast<int>(Get16(tcp, 22));
  }
  out.data.assign(tcp.begin() + static_cast<long>(header), tcp.end());
  return out;
}

// The application: echoes its input as far as the send buffer has room, unless told otherwise.
struct App {
  bool hold = false;         // consume nothing
  bool close_after = false;  // close once something was echoed
  std::string append;        // write this too (once, with the first input): a large reply
  AppResult operator()(const uint8_t* in, size_t size, bool, Connection& out) {
    if (hold) return {0, false, false};
    if (size != 0 && !append.empty() && out.Free() >= append.size()) {
      out.Write(reinterpret_cast<const uint8_t*>(append.data()), append.size());
      append.clear();
    }
    const size_t n = size < out.Free() ? size : out.Free();
    out.Write(in, n);
    return {n, close_after && n != 0, n < size};
  }
};

// The peer: builds and feeds segments, collects what the stack sends, drives its clock.
class Peer {
 public:
  Peer() { Reset(); }

  // A fresh stack (the clock stays).
  void Reset() {
    stack_ = std::make_unique<Stack>();
    stack_->Init(kSelf, &Capture, this);
    sent_.clear();
  }

  static bool Capture(void* context, const uint8_t* frame, size_t size) {
    auto* test = static_cast<Peer*>(context);
    if (!test->transmit_ok_) return false;
    test->sent_.push_back(ParseOut(Bytes(frame, frame + size)));
    return true;
  }

  Stack::Result Feed(const In& in) {
    const Bytes frame = Frame(in);
    EthernetFrame ethernet;
    Ipv4Packet packet;
    EXPECT_EQ(ParseTcpDatagram(frame.data(), frame.size(), kSelf, &ethernet, &packet),
              Verdict::kOk);
    const Stack::Result result = stack_->OnSegment(ethernet, packet, now_);
    if (result.connection != nullptr) stack_->Serve(*result.connection, app_, now_);
    return result;
  }

  std::vector<Out> Take() {
    std::vector<Out> sent;
    sent.swap(sent_);
    return sent;
  }

  Out TakeOne() {
    std::vector<Out> sent = Take();
    EXPECT_EQ(sent.size(), 1u);
    return sent.empty() ? Out{} : sent.front();
  }

  void TickTo(uint64_t now) {
    now_ = now;
    stack_->OnTick(now_);
  }

  // The three-way handshake; afterwards peer_seq_ and our_seq_ are the next sequence numbers
  // of either side.
  void Connect(uint32_t irs = 1000, int mss = 1460, uint16_t window = 65535) {
    window_ = window;
    Feed({.seq = irs, .flags = kSyn, .window = window, .mss = mss});
    const Out syn_ack = TakeOne();
    ASSERT_EQ(syn_ack.flags, kSyn | kAck);
    ASSERT_EQ(syn_ack.ack, irs + 1);
    our_seq_ = syn_ack.seq + 1;
    peer_seq_ = irs + 1;
    Feed({.seq = peer_seq_, .ack = our_seq_, .window = window});
    EXPECT_TRUE(Take().empty());
    ASSERT_EQ(Connection0().state(), State::kEstablished);
  }

  // Data from the peer at the expected place; returns what the stack sent back.
  std::vector<Out> Send(const std::string& text, uint8_t extra_flags = 0) {
    Feed({.seq = peer_seq_,
          .ack = our_seq_,
          .flags = static_cast<uint8_t>(kAck | extra_flags),
          .window = window_,
          .data = Text(text)});
    peer_seq_ += static_cast<uint32_t>(text.size()) + ((extra_flags & kFin) ? 1 : 0);
    return Take();
  }

  // An ACK of everything; `window` becomes the peer's window from now on.
  void AckAll(uint16_t window = 65535) {
    window_ = window;
    Feed({.seq = peer_seq_, .ack = our_seq_, .window = window});
  }

  Connection& Connection0() {
    for (size_t i = 0; i < kMaxConnections; ++i) {
      if (stack_->connection(i).state() != State::kClosed) return stack_->connection(i);
    }
    return stack_->connection(0);
  }

  std::unique_ptr<Stack> stack_;
  App app_;
  std::vector<Out> sent_;
  bool transmit_ok_ = true;
  uint64_t now_ = 1000;
  uint32_t peer_seq_ = 0;
  uint32_t our_seq_ = 0;
  uint16_t window_ = 65535;  // the peer's
};

class TcpTest : public ::testing::Test, public Peer {};

// ---- Pieces -----------------------------------------------------------------------------

TEST(TcpPiecesTest, SequenceComparisonsWrap) {
  EXPECT_TRUE(SeqLt(1, 2));
  EXPECT_TRUE(SeqLt(0xfffffff0u, 5));  // 5 is 21 later, across the wrap
  EXPECT_TRUE(SeqGt(5, 0xfffffff0u));
  EXPECT_TRUE(SeqLe(7, 7));
  EXPECT_FALSE(SeqLt(7, 7));
  EXPECT_TRUE(SeqInWindow(3, 0xfffffffeu, 10));
  EXPECT_FALSE(SeqInWindow(0xfffffffdu, 0xfffffffeu, 10));
  EXPECT_FALSE(SeqInWindow(8, 0xfffffffeu, 10));
}

TEST(TcpPiecesTest, WordChecksumMatchesTheByteOne) {
  Bytes data(1501);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 131 + 7);
  for (size_t size : {0u, 1u, 2u, 3u, 4u, 5u, 7u, 8u, 63u, 1460u, 1501u}) {
    for (size_t start : {0u, 1u, 2u, 3u}) {  // unaligned starts too
      const uint8_t* at = data.data() + start;
      EXPECT_EQ(ChecksumFinish(ChecksumAddWords(0x1234, at, size)),
                ChecksumFinish(ChecksumAdd(0x1234, at, size)))
          << size << " at " << start;
    }
  }
  // Pieces chain like ChecksumAdd's: every piece but the last of an even size.
  const uint64_t chained =
      ChecksumAddWords(ChecksumAddWords(0, data.data(), 10), data.data() + 10, 91);
  EXPECT_EQ(ChecksumFinish(chained), ChecksumFinish(ChecksumAdd(0, data.data(), 101)));
}

// ---- Opening ----------------------------------------------------------------------------

TEST_F(TcpTest, HandshakeAdvertisesMssAndTheReceiveBuffer) {
  const Stack::Result result = Feed({.seq = 1000, .flags = kSyn, .window = 64240, .mss = 1460});
  EXPECT_TRUE(result.used);
  const Out syn_ack = TakeOne();
  EXPECT_EQ(syn_ack.flags, kSyn | kAck);
  EXPECT_EQ(syn_ack.source_port, kServicePort);
  EXPECT_EQ(syn_ack.destination_port, kPeerPort);
  EXPECT_EQ(syn_ack.ack, 1001u);
  EXPECT_EQ(syn_ack.mss, 1460);
  EXPECT_EQ(syn_ack.window, kReceiveBufferBytes);
  EXPECT_EQ(stack_->OpenConnections(), 1u);
  EXPECT_EQ(Connection0().state(), State::kSynReceived);
  EXPECT_EQ(stack_->NextDeadline(), now_ + kInitialRtoTicks);

  Feed({.seq = 1001, .ack = syn_ack.seq + 1});
  EXPECT_TRUE(Take().empty());  // nothing to say to the ACK
  EXPECT_EQ(Connection0().state(), State::kEstablished);
  EXPECT_EQ(stack_->NextDeadline(), 0u);
}

TEST_F(TcpTest, IsnIsDeterministicAndMovesWithTime) {
  Feed({.seq = 1, .flags = kSyn});
  const uint32_t first = TakeOne().seq;
  Peer other;
  other.Feed({.seq = 1, .flags = kSyn});
  EXPECT_EQ(other.TakeOne().seq, first);  // same tick, same peer: same ISN
  other.now_ += 1;
  other.Feed({.source_port = static_cast<uint16_t>(kPeerPort + 1), .seq = 1, .flags = kSyn});
  EXPECT_NE(other.TakeOne().seq, first);
}

TEST_F(TcpTest, LostSynAckIsSentAgainOnTheTimerAndOnARepeatedSyn) {
  Feed({.seq = 1000, .flags = kSyn, .mss = 1460});
  const Out syn_ack = TakeOne();
  Feed({.seq = 1000, .flags = kSyn, .mss = 1460});  // the peer's SYN again
  Out again = TakeOne();
  EXPECT_EQ(again.flags, kSyn | kAck);
  EXPECT_EQ(again.seq, syn_ack.seq);
  TickTo(now_ + kInitialRtoTicks - 1);
  EXPECT_TRUE(Take().empty());
  TickTo(now_ + 1);
  again = TakeOne();
  EXPECT_EQ(again.flags, kSyn | kAck);
  EXPECT_EQ(again.seq, syn_ack.seq);
  EXPECT_EQ(stack_->NextDeadline(), now_ + 2 * kInitialRtoTicks);  // doubled
}

TEST_F(TcpTest, BadAckInSynReceivedGetsAReset) {
  Feed({.seq = 1000, .flags = kSyn});
  const Out syn_ack = TakeOne();
  Feed({.seq = 1001, .ack = syn_ack.seq + 5});
  const Out reset = TakeOne();
  EXPECT_EQ(reset.flags, kRst);
  EXPECT_EQ(reset.seq, syn_ack.seq + 5);
  EXPECT_EQ(Connection0().state(), State::kSynReceived);  // the right ACK may still come
}

TEST_F(TcpTest, PeerMssIsHonouredAndDefaultsTo536) {
  app_.append = std::string(3000, 'x');
  Connect(1000, 1000);
  std::vector<Out> sent = Send("a");
  ASSERT_EQ(sent.size(), 4u);  // 3001 bytes in segments of 1000
  EXPECT_EQ(sent[0].data.size(), 1000u);
  EXPECT_EQ(sent[3].data.size(), 1u);
  EXPECT_EQ(sent[1].seq, sent[0].seq + 1000);

  Peer no_option;
  no_option.app_.append = std::string(1000, 'y');
  no_option.Connect(1000, -1);
  sent = no_option.Send("b");
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].data.size(), 536u);

  Peer jumbo;
  jumbo.app_.append = std::string(3000, 'z');
  jumbo.Connect(1000, 9000);
  sent = jumbo.Send("c");
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].data.size(), 1460u);  // never more than our frames hold
}

// ---- Data -------------------------------------------------------------------------------

TEST_F(TcpTest, DataBothWaysWithTheAckPiggybacked) {
  Connect();
  const std::vector<Out> sent = Send("hello");
  ASSERT_EQ(sent.size(), 1u);  // the echo carries the ACK
  EXPECT_EQ(sent[0].flags, kAck | kPsh);
  EXPECT_EQ(AsText(sent[0].data), "hello");
  EXPECT_EQ(sent[0].seq, our_seq_);
  EXPECT_EQ(sent[0].ack, peer_seq_);
  EXPECT_EQ(sent[0].window, kReceiveBufferBytes);  // the echo consumed it all
  our_seq_ += 5;
  EXPECT_NE(stack_->NextDeadline(), 0u);  // until acknowledged
  AckAll();
  EXPECT_TRUE(Take().empty());
  EXPECT_EQ(stack_->NextDeadline(), 0u);
}

TEST_F(TcpTest, DataWithoutRepliesIsAcknowledgedAtOnceAndAcksAreNot) {
  app_.hold = true;
  Connect();
  const Out ack = Send("abc").at(0);
  EXPECT_EQ(ack.flags, kAck);
  EXPECT_TRUE(ack.data.empty());
  EXPECT_EQ(ack.ack, peer_seq_);
  EXPECT_EQ(ack.window, kReceiveBufferBytes - 3);
  AckAll();  // a bare ACK (nothing new to acknowledge) gets nothing back
  EXPECT_TRUE(Take().empty());
}

TEST_F(TcpTest, TheReceiveWindowIsTheFreeBufferAndIsEnforced) {
  app_.hold = true;
  Connect();
  std::vector<Out> sent = Send(std::string(1460, 'a'));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].ack, peer_seq_);
  EXPECT_EQ(sent[0].window, kReceiveBufferBytes - 1460);
  sent = Send(std::string(1460, 'b'));
  EXPECT_EQ(sent.at(0).window, kReceiveBufferBytes - 2920);
  // More than the window: only what fits is taken.
  Feed({.seq = peer_seq_, .ack = our_seq_, .data = Bytes(1460, 'c')});
  Out ack = TakeOne();
  EXPECT_EQ(ack.ack, peer_seq_ + (kReceiveBufferBytes - 2920));
  EXPECT_EQ(ack.window, 0u);
  peer_seq_ = ack.ack;
  EXPECT_EQ(Connection0().received_size(), kReceiveBufferBytes);
  // A zero window takes nothing, and says so.
  Feed({.seq = peer_seq_, .ack = our_seq_, .data = Bytes(1, 'd')});
  ack = TakeOne();
  EXPECT_EQ(ack.ack, peer_seq_);
  EXPECT_EQ(ack.window, 0u);
  // The application catches up: the window opens, and an update goes out.
  app_.hold = false;
  AckAll();
  const std::vector<Out> after = Take();
  ASSERT_FALSE(after.empty());
  EXPECT_EQ(after.back().window, kReceiveBufferBytes);
}

TEST_F(TcpTest, ThePeersWindowLimitsWhatWeSend) {
  app_.append = std::string(2999, 'x');
  Connect(1000, 1460, 1000);
  std::vector<Out> sent = Send("a");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].data.size(), 1000u);
  our_seq_ += 1000;
  AckAll(1500);  // 1000 acknowledged, 1500 more allowed
  sent = Take();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].data.size(), 1460u);
  EXPECT_EQ(sent[1].data.size(), 40u);
  our_seq_ += 1500;
  AckAll();
  sent = Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].data.size(), 500u);
  EXPECT_EQ(sent[0].seq, our_seq_);
}

TEST_F(TcpTest, TheSendBufferHoldsBackTheApplication) {
  Connect(1000, 1460, 0);  // the peer takes nothing for now
  const std::string big(kSendBufferBytes + 100, 'q');
  std::vector<Out> sent = Send(big.substr(0, 1400));
  sent = Send(big.substr(1400, 1400));
  sent = Send(big.substr(2800, 1400));
  sent = Send(big.substr(4200, 1400));
  // The echo filled the send buffer by now (8192); the rest of the input waits.
  EXPECT_EQ(Connection0().Free(), kSendBufferBytes - 5600);
  for (const Out& out : sent) EXPECT_TRUE(out.data.empty());  // window 0: only ACKs
}

TEST_F(TcpTest, OutOfOrderSegmentsAreDroppedAndTheGapAcknowledged) {
  Connect();
  Feed({.seq = peer_seq_ + 3, .ack = our_seq_, .data = Text("def")});
  Out ack = TakeOne();
  EXPECT_TRUE(ack.data.empty());
  EXPECT_EQ(ack.ack, peer_seq_);  // a duplicate ACK
  const std::vector<Out> sent = Send("abc");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(AsText(sent[0].data), "abc");  // "def" is gone: the peer sends it again
  EXPECT_EQ(sent[0].ack, peer_seq_);
}

TEST_F(TcpTest, OverlapWithWhatWeHaveIsTrimmed) {
  Connect();
  Send("abc");
  our_seq_ += 3;
  // "abcdef" again from the start: only "def" is new.
  Feed({.seq = peer_seq_ - 3, .ack = our_seq_, .data = Text("abcdef")});
  peer_seq_ += 3;
  const Out out = TakeOne();
  EXPECT_EQ(AsText(out.data), "def");
  EXPECT_EQ(out.ack, peer_seq_);
  // An old duplicate: just an ACK.
  Feed({.seq = peer_seq_ - 6, .ack = our_seq_, .data = Text("abc")});
  const Out dup = TakeOne();
  EXPECT_TRUE(dup.data.empty());
  EXPECT_EQ(dup.ack, peer_seq_);
}

TEST_F(TcpTest, SequenceNumbersWrapBothWays) {
  stack_->set_isn_base(0);
  // Find the ISN of this tick and peer, then move it next to the wrap.
  Feed({.seq = 1, .flags = kSyn});
  const uint32_t isn = TakeOne().seq;
  Reset();
  stack_->set_isn_base(0xfffffff8u - isn);
  Connect(0xfffffffau);
  EXPECT_EQ(our_seq_, 0xfffffff9u);
  for (int i = 0; i < 4; ++i) {
    const std::vector<Out> sent = Send("0123");
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].seq, our_seq_);
    EXPECT_EQ(sent[0].ack, peer_seq_);
    EXPECT_EQ(AsText(sent[0].data), "0123");
    our_seq_ += 4;
    AckAll();
    EXPECT_EQ(stack_->NextDeadline(), 0u) << i;  // the ACK across the wrap was taken
  }
  EXPECT_EQ(peer_seq_, 0x0000000bu);
  EXPECT_EQ(our_seq_, 0x00000009u);
}

// ---- Retransmission ---------------------------------------------------------------------

TEST_F(TcpTest, UnacknowledgedDataIsSentAgainWithTheTimeoutDoubling) {
  Connect();
  const Out first = Send("ping").at(0);
  const uint64_t start = now_;
  TickTo(start + kInitialRtoTicks - 1);
  EXPECT_TRUE(Take().empty());
  TickTo(start + kInitialRtoTicks);
  Out again = TakeOne();
  EXPECT_EQ(again.seq, first.seq);
  EXPECT_EQ(AsText(again.data), "ping");
  TickTo(start + 3 * kInitialRtoTicks - 1);
  EXPECT_TRUE(Take().empty());
  TickTo(start + 3 * kInitialRtoTicks);
  EXPECT_EQ(AsText(TakeOne().data), "ping");
  // The ACK comes: the timer stops and the timeout is back to its start.
  our_seq_ += 4;
  AckAll();
  EXPECT_EQ(stack_->NextDeadline(), 0u);
  Send("again");
  EXPECT_EQ(stack_->NextDeadline(), now_ + kInitialRtoTicks);
}

TEST_F(TcpTest, ItGivesUpWithAResetAfterTenRetransmissions) {
  Connect();
  Send("ping");
  int retransmissions = 0;
  while (stack_->NextDeadline() != 0) {
    TickTo(stack_->NextDeadline());
    for (const Out& out : Take()) {
      if (out.Has(kRst)) {
        EXPECT_EQ(retransmissions, kMaxRetransmissions);
        EXPECT_EQ(out.seq, our_seq_ + 4);
      } else {
        EXPECT_EQ(AsText(out.data), "ping");
        ++retransmissions;
      }
    }
    ASSERT_LT(now_, 100000u);
  }
  EXPECT_EQ(retransmissions, kMaxRetransmissions);
  EXPECT_EQ(stack_->OpenConnections(), 0u);
}

TEST_F(TcpTest, GoBackNSendsEverythingFromTheFirstLostByte) {
  app_.append = std::string(1999, 'r');
  Connect();
  const std::vector<Out> sent = Send("a");
  ASSERT_EQ(sent.size(), 2u);
  // The first 1460 arrive, the rest is lost.
  our_seq_ += 1460;
  AckAll();
  EXPECT_TRUE(Take().empty());
  TickTo(now_ + kInitialRtoTicks);
  const Out again = TakeOne();
  EXPECT_EQ(again.seq, our_seq_);
  EXPECT_EQ(again.data.size(), 540u);
}

TEST_F(TcpTest, AZeroWindowIsProbedOneByteAtATime) {
  app_.append = std::string(9, 'p');
  Connect(1000, 1460, 0);
  EXPECT_TRUE(Send("a").at(0).data.empty());  // just the ACK
  ASSERT_NE(stack_->NextDeadline(), 0u);      // the persist timer
  TickTo(stack_->NextDeadline());
  const Out probe = TakeOne();
  EXPECT_EQ(probe.data.size(), 1u);
  EXPECT_EQ(probe.seq, our_seq_);
  // The window opens: the rest goes.
  our_seq_ += 1;
  AckAll(100);
  const Out rest = TakeOne();
  EXPECT_EQ(rest.data.size(), 9u);
  EXPECT_EQ(rest.seq, our_seq_);
}

TEST_F(TcpTest, AFrameTheCardCouldNotTakeIsSentByTheTimer) {
  Connect();
  transmit_ok_ = false;
  EXPECT_TRUE(Send("lost").empty());
  transmit_ok_ = true;
  ASSERT_NE(stack_->NextDeadline(), 0u);
  TickTo(stack_->NextDeadline());
  EXPECT_EQ(AsText(TakeOne().data), "lost");
}

// ---- Closing ----------------------------------------------------------------------------

TEST_F(TcpTest, PassiveCloseAnswersTheRestThenClosesToo) {
  Connect();
  // The last request with the FIN: the reply and our FIN share a segment, with the ACK of both.
  const std::vector<Out> sent = Send("bye", kFin);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].flags, kAck | kPsh | kFin);
  EXPECT_EQ(AsText(sent[0].data), "bye");
  EXPECT_EQ(sent[0].ack, peer_seq_);
  EXPECT_EQ(Connection0().state(), State::kLastAck);
  our_seq_ += 4;
  AckAll();
  EXPECT_TRUE(Take().empty());
  EXPECT_EQ(stack_->OpenConnections(), 0u);
  EXPECT_EQ(stack_->NextDeadline(), 0u);
}

TEST_F(TcpTest, LostFinInLastAckIsSentAgain) {
  Connect();
  const Out fin = Send("", kFin).at(0);
  EXPECT_EQ(fin.flags, kAck | kFin);
  TickTo(stack_->NextDeadline());
  const Out again = TakeOne();
  EXPECT_EQ(again.flags, kAck | kFin);
  EXPECT_EQ(again.seq, fin.seq);
  our_seq_ += 1;
  AckAll();
  EXPECT_EQ(stack_->OpenConnections(), 0u);
}

TEST_F(TcpTest, ActiveCloseGoesThroughTimeWait) {
  app_.close_after = true;
  Connect();
  const std::vector<Out> sent = Send("QUIT");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].flags, kAck | kPsh | kFin);
  EXPECT_EQ(Connection0().state(), State::kFinWait1);
  our_seq_ += 5;
  AckAll();
  EXPECT_EQ(Connection0().state(), State::kFinWait2);
  // Input after our close is acknowledged and dropped.
  const Out ack = Send("more").at(0);
  EXPECT_TRUE(ack.data.empty());
  EXPECT_EQ(ack.ack, peer_seq_);
  const Out fin_ack = Send("", kFin).at(0);
  EXPECT_EQ(fin_ack.flags, kAck);
  EXPECT_EQ(fin_ack.ack, peer_seq_);
  EXPECT_EQ(Connection0().state(), State::kTimeWait);
  EXPECT_EQ(stack_->OpenConnections(), 1u);
  EXPECT_EQ(stack_->NextDeadline(), now_ + kTimeWaitTicks);
  TickTo(now_ + kTimeWaitTicks);
  EXPECT_EQ(stack_->OpenConnections(), 0u);
}

TEST_F(TcpTest, SimultaneousCloseGoesThroughClosing) {
  app_.close_after = true;
  Connect();
  Send("QUIT");  // our FIN, not acknowledged yet
  Feed({.seq = peer_seq_, .ack = our_seq_, .flags = kAck | kFin});
  peer_seq_ += 1;
  EXPECT_EQ(TakeOne().ack, peer_seq_);
  EXPECT_EQ(Connection0().state(), State::kClosing);
  our_seq_ += 5;
  AckAll();
  EXPECT_EQ(Connection0().state(), State::kTimeWait);
}

TEST_F(TcpTest, FinWait2DoesNotWaitForever) {
  app_.close_after = true;
  Connect();
  Send("QUIT");
  our_seq_ += 5;
  AckAll();
  ASSERT_EQ(Connection0().state(), State::kFinWait2);
  TickTo(now_ + kFinWait2Ticks);
  EXPECT_EQ(stack_->OpenConnections(), 0u);
}

TEST_F(TcpTest, ANewSynReopensAPairInTimeWait) {
  app_.close_after = true;
  Connect();
  Send("QUIT");
  our_seq_ += 5;
  AckAll();
  Send("", kFin);
  ASSERT_EQ(Connection0().state(), State::kTimeWait);
  Feed({.seq = peer_seq_ + 100000, .flags = kSyn});
  EXPECT_EQ(TakeOne().flags, kSyn | kAck);
  EXPECT_EQ(Connection0().state(), State::kSynReceived);
  EXPECT_EQ(stack_->OpenConnections(), 1u);
}

// ---- Resets -----------------------------------------------------------------------------

TEST_F(TcpTest, ResetAtTheExpectedSequenceNumberCloses) {
  Connect();
  Feed({.seq = peer_seq_, .flags = kRst});
  EXPECT_TRUE(Take().empty());
  EXPECT_EQ(stack_->OpenConnections(), 0u);
}

TEST_F(TcpTest, ResetElsewhereInTheWindowGetsAChallengeAck) {
  Connect();
  Feed({.seq = peer_seq_ + 10, .flags = kRst});
  const Out challenge = TakeOne();
  EXPECT_EQ(challenge.flags, kAck);
  EXPECT_EQ(challenge.ack, peer_seq_);
  Feed({.seq = peer_seq_ + 100000, .flags = kRst});  // outside: ignored
  EXPECT_TRUE(Take().empty());
  EXPECT_EQ(Connection0().state(), State::kEstablished);
}

TEST_F(TcpTest, SynOnAnOpenConnectionGetsAChallengeAck) {
  Connect();
  Feed({.seq = peer_seq_, .flags = kSyn});
  const Out challenge = TakeOne();
  EXPECT_EQ(challenge.flags, kAck);
  EXPECT_EQ(challenge.ack, peer_seq_);
  EXPECT_EQ(Connection0().state(), State::kEstablished);
}

TEST_F(TcpTest, OtherPortsAndUnknownConnectionsGetResets) {
  // A SYN to a closed port: RST+ACK of the SYN, sequence 0.
  Feed({.destination_port = 80, .seq = 5000, .flags = kSyn});
  Out reset = TakeOne();
  EXPECT_EQ(reset.flags, kRst | kAck);
  EXPECT_EQ(reset.seq, 0u);
  EXPECT_EQ(reset.ack, 5001u);
  EXPECT_EQ(reset.source_port, 80);
  EXPECT_EQ(reset.destination_port, kPeerPort);
  // Data with an ACK to a closed port: RST with the sequence number it acknowledged.
  Feed({.destination_port = 80, .seq = 5000, .ack = 777, .data = Text("x")});
  reset = TakeOne();
  EXPECT_EQ(reset.flags, kRst);
  EXPECT_EQ(reset.seq, 777u);
  // An ACK for no connection on the service port (LISTEN): the same.
  Feed({.seq = 5000, .ack = 888});
  reset = TakeOne();
  EXPECT_EQ(reset.flags, kRst);
  EXPECT_EQ(reset.seq, 888u);
  // Data without ACK to a closed port: RST+ACK past it.
  Feed({.destination_port = 81, .seq = 10, .flags = kPsh, .data = Text("abc")});
  reset = TakeOne();
  EXPECT_EQ(reset.flags, kRst | kAck);
  EXPECT_EQ(reset.ack, 13u);
  // A reset is never answered; LISTEN drops what is neither SYN nor ACK.
  EXPECT_FALSE(Feed({.destination_port = 80, .seq = 1, .flags = kRst}).used);
  EXPECT_FALSE(Feed({.seq = 1, .flags = kRst | kAck}).used);
  Feed({.seq = 1, .flags = kFin});
  EXPECT_TRUE(Take().empty());
  EXPECT_EQ(stack_->OpenConnections(), 0u);
}

// ---- Limits and bad input ---------------------------------------------------------------

TEST_F(TcpTest, BadChecksumIsDropped) {
  Bytes frame = Frame({.seq = 1, .flags = kSyn});
  frame.back() ^= 0x01;  // the urgent pointer's low byte
  EthernetFrame ethernet;
  Ipv4Packet packet;
  ASSERT_EQ(ParseTcpDatagram(frame.data(), frame.size(), kSelf, &ethernet, &packet), Verdict::kOk);
  EXPECT_FALSE(stack_->OnSegment(ethernet, packet, now_).used);
  EXPECT_TRUE(Take().empty());
  Segment segment;
  EXPECT_EQ(ParseSegment(packet, &segment), Verdict::kBadChecksum);
}

TEST_F(TcpTest, MalformedHeadersAreRefused) {
  Bytes tcp(20, 0);
  tcp[12] = 0x40;  // data offset 4 words
  Ipv4Packet packet;
  const uint8_t source[4] = {10, 78, 0, 10};
  packet.source = source;
  packet.destination = kSelf.ip;
  packet.payload = tcp.data();
  packet.payload_size = tcp.size();
  Segment segment;
  EXPECT_EQ(ParseSegment(packet, &segment), Verdict::kMalformed);
  tcp[12] = 0x60;  // 24 bytes of header in 20
  EXPECT_EQ(ParseSegment(packet, &segment), Verdict::kTruncated);
  packet.payload_size = 19;
  EXPECT_EQ(ParseSegment(packet, &segment), Verdict::kTruncated);
}

TEST_F(TcpTest, SixteenConnectionsAtMost) {
  for (uint16_t i = 0; i < kMaxConnections; ++i) {
    Feed({.source_port = static_cast<uint16_t>(50000 + i), .seq = 1, .flags = kSyn});
    EXPECT_EQ(TakeOne().flags, kSyn | kAck);
  }
  EXPECT_EQ(stack_->OpenConnections(), kMaxConnections);
  EXPECT_FALSE(Feed({.source_port = 60000, .seq = 1, .flags = kSyn}).used);
  EXPECT_TRUE(Take().empty());  // dropped: the peer tries again later
}

}  // namespace
}  // namespace testsvc::kernel::net::tcp
