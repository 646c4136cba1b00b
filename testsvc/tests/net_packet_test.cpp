// The guest's ARP, IPv4 and ICMP echo (kernel/net_packet.h). Requests are built here byte by
// byte, and checksums checked with a checksum of this file's own, not the header's.
#include "kernel/net_packet.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

namespace testsvc::kernel::net {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr Interface kSelf = {{0x02, 0x46, 0x54, 0x56, 0x4d, 0x01}, {10, 78, 0, 2}};
constexpr std::array<uint8_t, 6> kPeerMac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
constexpr std::array<uint8_t, 4> kPeerIp = {10, 78, 0, 1};
constexpr std::array<uint8_t, 6> kBroadcast = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
constexpr std::array<uint8_t, 6> kSelfMac = {0x02, 0x46, 0x54, 0x56, 0x4d, 0x01};
constexpr std::array<uint8_t, 4> kSelfIp = {10, 78, 0, 2};

void Put(Bytes& out, std::initializer_list<uint8_t> bytes) {
  out.insert(out.end(), bytes);
}
template <size_t N>
void Put(Bytes& out, const std::array<uint8_t, N>& bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}
void Put16(Bytes& out, uint32_t value) {
  Put(out, {static_cast<uint8_t>(value >> 8), static_cast<uint8_t>(value)});
}
uint16_t Get16(const Bytes& in, size_t at) {
  return static_cast<uint16_t>(in.at(at) << 8 | in.at(at + 1));
}

// RFC 1071, written independently of net_packet.h: bytes paired from the start, an odd last byte
// as the high half, carries folded at the end.
uint16_t ReferenceChecksum(const uint8_t* data, size_t size) {
  uint32_t sum = 0;
  for (size_t i = 0; i < size; ++i) sum += (i % 2 == 0) ? uint32_t{data[i]} << 8 : data[i];
  while (sum > 0xffff) sum = (sum >> 16) + (sum & 0xffff);
  return static_cast<uint16_t>(~sum & 0xffff);
}
uint16_t ReferenceChecksum(const Bytes& bytes, size_t from, size_t size) {
  EXPECT_LE(from + size, bytes.size());
  return ReferenceChecksum(bytes.data() + from, size);
}

struct Arp {
  std::array<uint8_t, 6> eth_destination = kBroadcast;
  uint16_t hardware = 1;
  uint16_t protocol = 0x0800;
  uint8_t hardware_size = 6;
  uint8_t protocol_size = 4;
  uint16_t operation = 1;
  std::array<uint8_t, 6> sender_mac = kPeerMac;
  std::array<uint8_t, 4> sender_ip = kPeerIp;
  std::array<uint8_t, 4> target_ip = kSelfIp;
};

Bytes ArpFrame(const Arp& arp) {
  Bytes frame;
  Put(frame, arp.eth_destination);
  Put(frame, kPeerMac);
  Put16(frame, 0x0806);
  Put16(frame, arp.hardware);
  Put16(frame, arp.protocol);
  Put(frame, {arp.hardware_size, arp.protocol_size});
  Put16(frame, arp.operation);
  Put(frame, arp.sender_mac);
  Put(frame, arp.sender_ip);
  Put(frame, {0, 0, 0, 0, 0, 0});  // target MAC: unknown
  Put(frame, arp.target_ip);
  return frame;
}

struct Echo {
  std::array<uint8_t, 6> eth_destination = kSelfMac;
  std::array<uint8_t, 6> eth_source = kPeerMac;
  uint8_t version = 4;
  Bytes options;  // IHL = 5 + options / 4
  uint8_t tos = 0;
  uint16_t fragment = 0x4000;  // DF
  uint8_t protocol = 1;
  std::array<uint8_t, 4> source = kPeerIp;
  std::array<uint8_t, 4> destination = kSelfIp;
  uint8_t type = 8;
  uint8_t code = 0;
  uint16_t identifier = 0x1234;
  uint16_t sequence = 7;
  Bytes payload;
};

constexpr size_t kIpAt = 14;

// The request, with correct lengths and checksums (tests break them afterwards).
Bytes EchoFrame(const Echo& echo) {
  Bytes frame;
  Put(frame, echo.eth_destination);
  Put(frame, echo.eth_source);
  Put16(frame, 0x0800);
  const size_t header_size = 20 + echo.options.size();
  const size_t icmp_size = 8 + echo.payload.size();
  Put(frame, {static_cast<uint8_t>(echo.version << 4 | header_size / 4), echo.tos});
  Put16(frame, static_cast<uint32_t>(header_size + icmp_size));
  Put16(frame, 0xbeef);  // identification
  Put16(frame, echo.fragment);
  Put(frame, {64, echo.protocol, 0, 0});
  Put(frame, echo.source);
  Put(frame, echo.destination);
  frame.insert(frame.end(), echo.options.begin(), echo.options.end());
  const uint16_t ip_checksum = ReferenceChecksum(frame, kIpAt, header_size);
  frame[kIpAt + 10] = static_cast<uint8_t>(ip_checksum >> 8);
  frame[kIpAt + 11] = static_cast<uint8_t>(ip_checksum);
  const size_t icmp_at = frame.size();
  Put(frame, {echo.type, echo.code, 0, 0});
  Put16(frame, echo.identifier);
  Put16(frame, echo.sequence);
  frame.insert(frame.end(), echo.payload.begin(), echo.payload.end());
  const uint16_t icmp_checksum = ReferenceChecksum(frame, icmp_at, icmp_size);
  frame[icmp_at + 2] = static_cast<uint8_t>(icmp_checksum >> 8);
  frame[icmp_at + 3] = static_cast<uint8_t>(icmp_checksum);
  return frame;
}

Bytes Payload(size_t size) {
  Bytes payload(size);
  for (size_t i = 0; i < size; ++i) payload[i] = static_cast<uint8_t>(i * 7 + 3);
  return payload;
}

struct Result {
  Outcome outcome;
  Bytes reply;  // outcome.size bytes
};

// The frame is copied into a buffer of exactly its size, so that a sanitizer build would catch
// any read past it.
Result Reply(const Bytes& frame, size_t capacity = kEthernetMaxFrameBytes) {
  const std::unique_ptr<uint8_t[]> in(new uint8_t[frame.size()]);
  std::copy(frame.begin(), frame.end(), in.get());
  Bytes out(capacity, 0xcc);
  const Outcome outcome = BuildReply(in.get(), frame.size(), kSelf, out.data(), out.size());
  out.resize(outcome.size);
  return {outcome, out};
}

Verdict VerdictOf(const Bytes& frame) {
  return Reply(frame).outcome.verdict;
}

// ---- The checksum -----------------------------------------------------------------------

TEST(NetChecksumTest, MatchesRfc1071AndOddLengths) {
  // RFC 1071, 3: the sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2.
  static constexpr uint8_t rfc[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(InternetChecksum(rfc, sizeof rfc), 0x220d);
  EXPECT_EQ(ChecksumFinish(ChecksumAdd(0, rfc, sizeof rfc)), 0x220d);
  const uint8_t odd[] = {0x01};
  EXPECT_EQ(InternetChecksum(odd, 1), 0xfeff);
  EXPECT_EQ(InternetChecksum(rfc, 0), 0xffff);
  const Bytes payload = Payload(1473);
  for (size_t size : {1u, 2u, 3u, 63u, 64u, 1001u, 1473u}) {
    EXPECT_EQ(InternetChecksum(payload.data(), size), ReferenceChecksum(payload.data(), size))
        << size;
  }
  static_assert(InternetChecksum(rfc, 8) == 0x220d);
}

// ---- Ethernet ---------------------------------------------------------------------------

TEST(NetEthernetTest, TakesFramesToOurMacOrBroadcastOnly) {
  Arp arp;
  EXPECT_EQ(VerdictOf(ArpFrame(arp)), Verdict::kReply);  // broadcast
  arp.eth_destination = kSelfMac;
  EXPECT_EQ(VerdictOf(ArpFrame(arp)), Verdict::kReply);  // unicast to us
  arp.eth_destination = {0x02, 0x46, 0x54, 0x56, 0x4d, 0x02};
  EXPECT_EQ(VerdictOf(ArpFrame(arp)), Verdict::kNotForUs);
  arp.eth_destination = {0x33, 0x33, 0x00, 0x00, 0x00, 0x01};  // IPv6 all-nodes multicast
  EXPECT_EQ(VerdictOf(ArpFrame(arp)), Verdict::kNotForUs);

  Echo echo;
  echo.eth_source = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};  // a group address cannot send
  EXPECT_EQ(VerdictOf(EchoFrame(echo)), Verdict::kMalformed);
}

TEST(NetEthernetTest, ShortFramesAndOtherEtherTypes) {
  const Bytes frame = ArpFrame(Arp{});
  for (size_t size = 0; size < kEthernetHeaderBytes; ++size) {
    EXPECT_EQ(VerdictOf(Bytes(frame.begin(), frame.begin() + size)), Verdict::kTruncated) << size;
  }
  Bytes ipv6 = frame;
  ipv6[12] = 0x86;
  ipv6[13] = 0xdd;
  EXPECT_EQ(VerdictOf(ipv6), Verdict::kUnsupported);
  Bytes vlan = frame;
  vlan[12] = 0x81;
  vlan[13] = 0x00;
  EXPECT_EQ(VerdictOf(vlan), Verdict::kUnsupported);
  Bytes header_only(frame.begin(), frame.begin() + kEthernetHeaderBytes);
  EXPECT_EQ(VerdictOf(header_only), Verdict::kTruncated);  // an ARP with no message
}

// ---- ARP --------------------------------------------------------------------------------

TEST(NetArpTest, RequestForOurAddressGetsTheReply) {
  const Result result = Reply(ArpFrame(Arp{}));
  ASSERT_EQ(result.outcome.verdict, Verdict::kReply);
  Bytes expected = {
      0x52, 0x54, 0x00, 0x12, 0x34, 0x56,  // to the asker
      0x02, 0x46, 0x54, 0x56, 0x4d, 0x01,  // from us
      0x08, 0x06,                          // ARP
      0x00, 0x01, 0x08, 0x00, 6,    4,     // Ethernet, IPv4
      0x00, 0x02,                          // reply
      0x02, 0x46, 0x54, 0x56, 0x4d, 0x01,  // sender: us
      10,   78,   0,    2,                 //
      0x52, 0x54, 0x00, 0x12, 0x34, 0x56,  // target: the asker
      10,   78,   0,    1,                 //
  };
  expected.resize(60, 0);  // zero padding to the Ethernet minimum
  EXPECT_EQ(result.reply, expected);
  EXPECT_EQ(result.outcome.size, kEthernetMinFrameBytes);
}

TEST(NetArpTest, PaddedRequestAndProbeAreAnswered) {
  Bytes padded = ArpFrame(Arp{});
  padded.resize(60, 0);  // as it comes off a real Ethernet
  EXPECT_EQ(Reply(padded).reply, Reply(ArpFrame(Arp{})).reply);

  Arp probe;  // RFC 5227: "who has 10.78.0.2?" from 0.0.0.0
  probe.sender_ip = {0, 0, 0, 0};
  const Result result = Reply(ArpFrame(probe));
  ASSERT_EQ(result.outcome.verdict, Verdict::kReply);
  EXPECT_EQ(Bytes(result.reply.begin() + 38, result.reply.begin() + 42), Bytes({0, 0, 0, 0}));
}

TEST(NetArpTest, OtherRequestsGetNoReply) {
  Arp other;
  other.target_ip = {10, 78, 0, 3};
  EXPECT_EQ(VerdictOf(ArpFrame(other)), Verdict::kNotForUs);
  EXPECT_TRUE(Reply(ArpFrame(other)).reply.empty());

  Arp reply;
  reply.operation = 2;
  EXPECT_EQ(VerdictOf(ArpFrame(reply)), Verdict::kUnsupported);
  Arp rarp;
  rarp.operation = 3;
  EXPECT_EQ(VerdictOf(ArpFrame(rarp)), Verdict::kUnsupported);
  Arp token_ring;
  token_ring.hardware = 6;
  EXPECT_EQ(VerdictOf(ArpFrame(token_ring)), Verdict::kUnsupported);
  Arp ipv6;
  ipv6.protocol = 0x86dd;
  EXPECT_EQ(VerdictOf(ArpFrame(ipv6)), Verdict::kUnsupported);
  Arp long_mac;
  long_mac.hardware_size = 8;
  EXPECT_EQ(VerdictOf(ArpFrame(long_mac)), Verdict::kMalformed);
  Arp short_ip;
  short_ip.protocol_size = 2;
  EXPECT_EQ(VerdictOf(ArpFrame(short_ip)), Verdict::kMalformed);
  Arp group_sender;
  group_sender.sender_mac = kBroadcast;
  EXPECT_EQ(VerdictOf(ArpFrame(group_sender)), Verdict::kMalformed);
  Arp zero_sender;
  zero_sender.sender_mac = {};
  EXPECT_EQ(VerdictOf(ArpFrame(zero_sender)), Verdict::kMalformed);
}

TEST(NetArpTest, TruncatedRequestsAndNoRoom) {
  const Bytes frame = ArpFrame(Arp{});
  for (size_t size = kEthernetHeaderBytes; size < frame.size(); ++size) {
    EXPECT_EQ(VerdictOf(Bytes(frame.begin(), frame.begin() + size)), Verdict::kTruncated) << size;
  }
  EXPECT_EQ(Reply(frame, kEthernetMinFrameBytes - 1).outcome.verdict, Verdict::kNoRoom);
  EXPECT_EQ(Reply(frame, kEthernetMinFrameBytes).outcome.verdict, Verdict::kReply);
}

// ---- ICMP echo --------------------------------------------------------------------------

// Checks `result` as the reply to `echo` in every byte that matters.
void ExpectEchoReply(const Echo& echo, const Result& result) {
  ASSERT_EQ(result.outcome.verdict, Verdict::kReply);
  const Bytes& reply = result.reply;
  const size_t icmp_size = 8 + echo.payload.size();
  const size_t unpadded = 14 + 20 + icmp_size;
  ASSERT_EQ(reply.size(), std::max<size_t>(unpadded, 60));
  // Ethernet: back to the asker, from us.
  EXPECT_EQ(Bytes(reply.begin(), reply.begin() + 6),
            Bytes(echo.eth_source.begin(), echo.eth_source.end()));
  EXPECT_EQ(Bytes(reply.begin() + 6, reply.begin() + 12), Bytes(kSelfMac.begin(), kSelfMac.end()));
  EXPECT_EQ(Get16(reply, 12), 0x0800);
  // IPv4: 20 bytes, no options, DF, TTL 64, from us to the asker.
  EXPECT_EQ(reply[kIpAt], 0x45);
  EXPECT_EQ(reply[kIpAt + 1], echo.tos);
  EXPECT_EQ(Get16(reply, kIpAt + 2), 20 + icmp_size);
  EXPECT_EQ(Get16(reply, kIpAt + 6), 0x4000);
  EXPECT_EQ(reply[kIpAt + 8], 64);
  EXPECT_EQ(reply[kIpAt + 9], 1);
  EXPECT_EQ(Bytes(reply.begin() + kIpAt + 12, reply.begin() + kIpAt + 16),
            Bytes(kSelfIp.begin(), kSelfIp.end()));
  EXPECT_EQ(Bytes(reply.begin() + kIpAt + 16, reply.begin() + kIpAt + 20),
            Bytes(echo.source.begin(), echo.source.end()));
  EXPECT_EQ(ReferenceChecksum(reply, kIpAt, 20), 0) << "IPv4 header checksum";
  // ICMP: echo reply, same identifier, sequence and data; checksum over the whole message.
  const size_t icmp = kIpAt + 20;
  EXPECT_EQ(reply[icmp], 0);
  EXPECT_EQ(reply[icmp + 1], 0);
  EXPECT_EQ(Get16(reply, icmp + 4), echo.identifier);
  EXPECT_EQ(Get16(reply, icmp + 6), echo.sequence);
  EXPECT_EQ(Bytes(reply.begin() + icmp + 8, reply.begin() + icmp + icmp_size), echo.payload);
  EXPECT_EQ(ReferenceChecksum(reply, icmp, icmp_size), 0) << "ICMP checksum";
  Bytes zeroed(reply.begin() + icmp, reply.begin() + icmp + icmp_size);
  zeroed[2] = zeroed[3] = 0;
  EXPECT_EQ(Get16(reply, icmp + 2), ReferenceChecksum(zeroed, 0, zeroed.size()));
  for (size_t i = unpadded; i < reply.size(); ++i) EXPECT_EQ(reply[i], 0) << "padding at " << i;
}

TEST(NetIcmpTest, EchoRequestGetsAnEchoReply) {
  Echo echo;
  echo.payload = Payload(56);  // what ping sends by default
  echo.tos = 0x10;
  ExpectEchoReply(echo, Reply(EchoFrame(echo)));
}

TEST(NetIcmpTest, EveryPayloadLengthOddOrEvenUpToTheMtu) {
  for (size_t size = 0; size <= 1500 - 20 - 8; ++size) {
    Echo echo;
    echo.payload = Payload(size);
    echo.identifier = static_cast<uint16_t>(size * 977);
    echo.sequence = static_cast<uint16_t>(0xffff - size);
    const Bytes frame = EchoFrame(echo);
    ASSERT_LE(frame.size(), kEthernetMaxFrameBytes);
    SCOPED_TRACE(size);
    ExpectEchoReply(echo, Reply(frame));
    if (HasFatalFailure() || HasNonfatalFailure()) return;
  }
}

TEST(NetIcmpTest, ChecksumsAreChecked) {
  Echo echo;
  echo.payload = Payload(21);
  Bytes bad_ip = EchoFrame(echo);
  bad_ip[kIpAt + 8] ^= 1;  // TTL changed, checksum not
  EXPECT_EQ(VerdictOf(bad_ip), Verdict::kBadChecksum);
  Bytes bad_icmp = EchoFrame(echo);
  bad_icmp.back() ^= 0x40;
  EXPECT_EQ(VerdictOf(bad_icmp), Verdict::kBadChecksum);
  Bytes bad_icmp_field = EchoFrame(echo);
  bad_icmp_field[kIpAt + 20 + 2] ^= 0x80;
  EXPECT_EQ(VerdictOf(bad_icmp_field), Verdict::kBadChecksum);
}

TEST(NetIcmpTest, TruncatedFramesAreDropped) {
  Echo echo;
  echo.payload = Payload(33);
  const Bytes frame = EchoFrame(echo);
  for (size_t size = 0; size < frame.size(); ++size) {
    EXPECT_EQ(VerdictOf(Bytes(frame.begin(), frame.begin() + size)), Verdict::kTruncated) << size;
  }
}

TEST(NetIcmpTest, TheTotalLengthDecidesNotTheFrameLength) {
  Echo echo;
  echo.payload = Payload(4);
  Bytes padded = EchoFrame(echo);
  const size_t unpadded = padded.size();
  padded.resize(60, 0xee);  // Ethernet padding (not even zeros): not part of the datagram
  const Result result = Reply(padded);
  ExpectEchoReply(echo, result);
  EXPECT_LT(unpadded, 60u);

  // A total length beyond the frame, or below the header, or an ICMP message under 8 bytes.
  for (uint16_t total : {uint16_t(unpadded - 14 + 1), uint16_t(0xffff)}) {
    Bytes frame = EchoFrame(echo);
    frame[kIpAt + 2] = static_cast<uint8_t>(total >> 8);
    frame[kIpAt + 3] = static_cast<uint8_t>(total);
    frame[kIpAt + 10] = frame[kIpAt + 11] = 0;
    const uint16_t checksum = ReferenceChecksum(frame, kIpAt, 20);
    frame[kIpAt + 10] = static_cast<uint8_t>(checksum >> 8);
    frame[kIpAt + 11] = static_cast<uint8_t>(checksum);
    EXPECT_EQ(VerdictOf(frame), Verdict::kTruncated) << total;
  }
  for (uint16_t total : {uint16_t(0), uint16_t(19), uint16_t(20), uint16_t(27)}) {
    Bytes frame = EchoFrame(echo);
    frame[kIpAt + 2] = static_cast<uint8_t>(total >> 8);
    frame[kIpAt + 3] = static_cast<uint8_t>(total);
    frame[kIpAt + 10] = frame[kIpAt + 11] = 0;
    const uint16_t checksum = ReferenceChecksum(frame, kIpAt, 20);
    frame[kIpAt + 10] = static_cast<uint8_t>(checksum >> 8);
    frame[kIpAt + 11] = static_cast<uint8_t>(checksum);
    EXPECT_EQ(VerdictOf(frame), total < 20 ? Verdict::kMalformed : Verdict::kTruncated) << total;
  }
}

TEST(NetIcmpTest, FragmentsAreDropped) {
  Echo echo;
  echo.payload = Payload(100);
  echo.fragment = 0x2000;  // more fragments follow
  EXPECT_EQ(VerdictOf(EchoFrame(echo)), Verdict::kFragment);
  echo.fragment = 0x0001;  // offset 8: a later fragment
  EXPECT_EQ(VerdictOf(EchoFrame(echo)), Verdict::kFragment);
  echo.fragment = 0x1fff;
  EXPECT_EQ(VerdictOf(EchoFrame(echo)), Verdict::kFragment);
  echo.fragment = 0x0000;  // DF clear, but whole: fine
  EXPECT_EQ(VerdictOf(EchoFrame(echo)), Verdict::kReply);
}

TEST(NetIcmpTest, HeaderOptionsAreSkippedAndNotEchoed) {
  Echo echo;
  echo.payload = Payload(9);
  echo.options = {0x94, 0x04, 0x00, 0x00};  // router alert
  ExpectEchoReply(echo, Reply(EchoFrame(echo)));
  echo.options = Bytes(40, 0x01);  // IHL 15: forty NOPs
  echo.payload = Payload(1);
  ExpectEchoReply(echo, Reply(EchoFrame(echo)));
  // IHL 15 in a frame that holds fewer header bytes than that.
  echo.options = {};
  Bytes frame = EchoFrame(echo);
  frame.resize(kIpAt + 40);
  frame[kIpAt] = 0x4f;
  EXPECT_EQ(VerdictOf(frame), Verdict::kTruncated);
}

TEST(NetIcmpTest, BadVersionAndIhlAreMalformed) {
  Echo echo;
  echo.version = 6;
  EXPECT_EQ(VerdictOf(EchoFrame(echo)), Verdict::kMalformed);
  for (uint8_t ihl = 0; ihl < 5; ++ihl) {
    Echo plain;
    Bytes frame = EchoFrame(plain);
    frame[kIpAt] = static_cast<uint8_t>(0x40 | ihl);
    EXPECT_EQ(VerdictOf(frame), Verdict::kMalformed) << int{ihl};
  }
}

TEST(NetIcmpTest, OnlyEchoRequestsToUsFromAHostAreAnswered) {
  const std::array<std::array<uint8_t, 4>, 3> others = {
      {{10, 78, 0, 3}, {10, 78, 0, 255}, {255, 255, 255, 255}}};
  for (const auto& destination : others) {
    Echo echo;
    echo.destination = destination;
    EXPECT_EQ(VerdictOf(EchoFrame(echo)), Verdict::kNotForUs);
  }
  const std::array<std::array<uint8_t, 4>, 6> bogus = {{{0, 0, 0, 0},
                                                        {127, 0, 0, 1},
                                                        {224, 0, 0, 1},
                                                        {240, 0, 0, 1},
                                                        {255, 255, 255, 255},
                                                        {10, 78, 0, 2}}};
  for (const auto& source : bogus) {
    Echo echo;
    echo.source = source;
    EXPECT_EQ(VerdictOf(EchoFrame(echo)), Verdict::kMalformed) << int{source[0]};
  }
  Echo reply;
  reply.type = 0;
  EXPECT_EQ(VerdictOf(EchoFrame(reply)), Verdict::kUnsupported);
  Echo unreachable;
  unreachable.type = 3;
  EXPECT_EQ(VerdictOf(EchoFrame(unreachable)), Verdict::kUnsupported);
  Echo odd_code;
  odd_code.code = 1;
  EXPECT_EQ(VerdictOf(EchoFrame(odd_code)), Verdict::kUnsupported);
  for (uint8_t protocol : {uint8_t{kIpProtocolTcp}, uint8_t{17}}) {
    Echo other;
    other.protocol = protocol;
    EXPECT_EQ(VerdictOf(EchoFrame(other)), Verdict::kUnsupported) << int{protocol};
  }
}

TEST(NetIcmpTest, ShortIcmpMessagesAndNoRoom) {
  Echo echo;
  Bytes frame = EchoFrame(echo);  // 8-byte ICMP message: fine
  EXPECT_EQ(VerdictOf(frame), Verdict::kReply);
  // Total length cut to leave a 7-byte ICMP message.
  frame[kIpAt + 3] = 27;
  frame[kIpAt + 10] = frame[kIpAt + 11] = 0;
  const uint16_t checksum = ReferenceChecksum(frame, kIpAt, 20);
  frame[kIpAt + 10] = static_cast<uint8_t>(checksum >> 8);
  frame[kIpAt + 11] = static_cast<uint8_t>(checksum);
  EXPECT_EQ(VerdictOf(frame), Verdict::kTruncated);

  echo.payload = Payload(100);
  const Bytes big = EchoFrame(echo);
  EXPECT_EQ(Reply(big, big.size() - 1).outcome.verdict, Verdict::kNoRoom);
  EXPECT_EQ(Reply(big, big.size()).outcome.verdict, Verdict::kReply);
}

// The whole path is constexpr, like the rest of the guest's pure logic.
constexpr Verdict ConstexprArpVerdict() {
  uint8_t frame[42] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34,
                       0x56, 0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6,    4,    0x00, 0x01,
                       0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 10,   78,   0,    1,    0,
                       0,    0,    0,    0,    0,    10,   78,   0,    2};
  uint8_t out[60] = {};
  return BuildReply(frame, sizeof frame, kSelf, out, sizeof out).verdict;
}
static_assert(ConstexprArpVerdict() == Verdict::kReply);

}  // namespace
}  // namespace testsvc::kernel::net
