// The guest's network protocols: Ethernet II, ARP and IPv4 with ICMP echo. Parses what comes in
// and builds the reply, if any. Pure and header-only (constexpr, no memory of its own): the
// net thread (net.h) runs it in the guest, host unit tests check it.
//
// What is answered, and nothing else:
//   - an ARP request (Ethernet, IPv4) for our address: a reply from our MAC, to the sender's;
//   - an ICMP echo request to our address: an echo reply with the same identifier, sequence
//     number and data. There is no ARP cache: a reply goes back to the MAC the request came
//     from (the one hop of a tap or bridge, which is all testsvc ever sits behind).
//
// Everything in a frame comes from outside and is checked before it is used: no read goes past
// `size`, no length field is believed beyond the bytes that are there. A frame is taken when
// it is addressed to our MAC or broadcast; bytes after the end an ARP message or an IPv4 total
// length gives (Ethernet padding) are ignored. IPv4 header options are allowed and skipped
// (the reply has none); fragments are dropped, as nothing is reassembled. Replies are padded
// with zeros to the Ethernet minimum of 60 bytes (without FCS).
//
// A protocol over IPv4 is one case of the dispatch in BuildIpv4Reply. TCP is not one: it has
// state, so the TCP layer (tcp.h) takes what ParseTcpDatagram finds and BuildReply ignores it.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace testsvc::kernel::net {

inline constexpr size_t kMacBytes = 6;
inline constexpr size_t kIpv4AddressBytes = 4;

inline constexpr size_t kEthernetHeaderBytes = 14;
inline constexpr size_t kEthernetMinFrameBytes = 60;    // without FCS
inline constexpr size_t kEthernetMaxFrameBytes = 1514;  // MTU 1500, without FCS or VLAN tag
inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;

inline constexpr size_t kArpBytes = 28;  // Ethernet hardware, IPv4 protocol addresses
inline constexpr uint16_t kArpHardwareEthernet = 1;
inline constexpr uint16_t kArpRequest = 1, kArpReply = 2;

inline constexpr size_t kIpv4HeaderBytes = 20;  // without options
inline constexpr uint8_t kIpv4VersionIhl = 0x45;
inline constexpr uint16_t kIpv4DontFragment = 0x4000;
inline constexpr uint16_t kIpv4MoreFragments = 0x2000;
inline constexpr uint16_t kIpv4FragmentOffsetMask = 0x1fff;
inline constexpr uint8_t kIpv4Ttl = 64;
inline constexpr uint8_t kIpProtocolIcmp = 1;
inline constexpr uint8_t kIpProtocolTcp = 6;

inline constexpr size_t kIcmpHeaderBytes = 8;  // type, code, checksum, identifier, sequence
inline constexpr uint8_t kIcmpEchoReply = 0, kIcmpEchoRequest = 8;

// Who we are on the link.
struct Interface {
  uint8_t mac[kMacBytes];
  uint8_t ip[kIpv4AddressBytes];
};

enum class Verdict : uint8_t {
  kOk,           // (between layers only) this layer is fine: go on
  kReply,        // the reply is in `out`
  kTruncated,    // fewer bytes than the headers or length fields need
  kMalformed,    // a field no well-behaved sender uses: IP version, IHL below 5, total length
                 // below the header, ARP address sizes, a multicast, broadcast, zero,
                 // loopback or own source address
  kBadChecksum,  // of the IPv4 header or the ICMP message
  kFragment,     // part of a fragmented IPv4 datagram
  kNotForUs,     // another MAC, IPv4 destination or ARP target
  kUnsupported,  // an EtherType, ARP kind or operation, IP protocol or ICMP type not answered
  kNoRoom,       // the reply does not fit in `out`
};

struct Outcome {
  Verdict verdict = Verdict::kOk;
  size_t size = 0;  // of the reply in `out`; 0 unless kReply
};

// ---- Bytes ------------------------------------------------------------------------------

constexpr uint16_t LoadBe16(const uint8_t* at) {
  return static_cast<uint16_t>((at[0] << 8) | at[1]);
}
constexpr void StoreBe16(uint8_t* at, uint16_t value) {
  at[0] = static_cast<uint8_t>(value >> 8);
  at[1] = static_cast<uint8_t>(value);
}
constexpr void CopyBytes(uint8_t* to, const uint8_t* from, size_t size) {
  for (size_t i = 0; i < size; ++i) to[i] = from[i];
}
constexpr void ZeroBytes(uint8_t* to, size_t size) {
  for (size_t i = 0; i < size; ++i) to[i] = 0;
}
constexpr bool SameBytes(const uint8_t* a, const uint8_t* b, size_t size) {
  for (size_t i = 0; i < size; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

// The group bit: multicast, broadcast included.
constexpr bool IsMulticastMac(const uint8_t* mac) {
  return (mac[0] & 1) != 0;
}
constexpr bool IsBroadcastMac(const uint8_t* mac) {
  for (size_t i = 0; i < kMacBytes; ++i) {
    if (mac[i] != 0xff) return false;
  }
  return true;
}

// A source no host may send from: 0.0.0.0/8 ("this network"), 127.0.0.0/8 (loopback),
// 224.0.0.0 and above (multicast, reserved, broadcast).
constexpr bool IsBogusIpv4Source(const uint8_t* ip) {
  return ip[0] == 0 || ip[0] == 127 || ip[0] >= 224;
}

// ---- The Internet checksum (RFC 1071) ---------------------------------------------------

// Adds the big-endian 16-bit words of `data` to the ones' complement sum `sum`; an odd last byte
// counts as a word with a zero low byte. Sums of several pieces may be chained, as long as every
// piece but the last has an even size.
constexpr uint64_t ChecksumAdd(uint64_t sum, const uint8_t* data, size_t size) {
  size_t i = 0;
  for (; i + 1 < size; i += 2) sum += LoadBe16(data + i);
  if (i < size) sum += static_cast<uint64_t>(data[i]) << 8;
  return sum;
}

// The checksum field's value: the folded sum, complemented.
constexpr uint16_t ChecksumFinish(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// Over data whose checksum field is zero: the value for that field. Over data including a
// correct checksum field: 0.
constexpr uint16_t InternetChecksum(const uint8_t* data, size_t size) {
  return ChecksumFinish(ChecksumAdd(0, data, size));
}

// ---- Ethernet II ------------------------------------------------------------------------

struct EthernetFrame {
  const uint8_t* destination = nullptr;
  const uint8_t* source = nullptr;
  uint16_t type = 0;
  const uint8_t* payload = nullptr;
  size_t payload_size = 0;  // all that follows the header, Ethernet padding included
};

// kOk for a frame to our MAC or broadcast, from a unicast source.
constexpr Verdict ParseEthernet(const uint8_t* in, size_t size, const Interface& self,
                                EthernetFrame* frame) {
  if (size < kEthernetHeaderBytes) return Verdict::kTruncated;
  frame->destination = in;
  frame->source = in + kMacBytes;
  frame->type = LoadBe16(in + 2 * kMacBytes);
  frame->payload = in + kEthernetHeaderBytes;
  frame->payload_size = size - kEthernetHeaderBytes;
  if (!SameBytes(frame->destination, self.mac, kMacBytes) && !IsBroadcastMac(frame->destination)) {
    return Verdict::kNotForUs;
  }
  if (IsMulticastMac(frame->source)) return Verdict::kMalformed;
  return Verdict::kOk;
}

constexpr void BuildEthernetHeader(uint8_t* out, const uint8_t* destination, const uint8_t* source,
                                   uint16_t type) {
  CopyBytes(out, destination, kMacBytes);
  CopyBytes(out + kMacBytes, source, kMacBytes);
  StoreBe16(out + 2 * kMacBytes, type);
}

// A frame of `size` bytes: its size once padded to the Ethernet minimum.
constexpr size_t PaddedFrameSize(size_t size) {
  return size < kEthernetMinFrameBytes ? kEthernetMinFrameBytes : size;
}

// ---- ARP (RFC 826) ----------------------------------------------------------------------

// ARP message offsets (Ethernet hardware, IPv4 protocol addresses).
inline constexpr size_t kArpSenderMac = 8;
inline constexpr size_t kArpSenderIp = 14;
inline constexpr size_t kArpTargetMac = 18;
inline constexpr size_t kArpTargetIp = 24;

// The reply to an ARP request for our address.
constexpr Outcome BuildArpReply(const EthernetFrame& frame, const Interface& self, uint8_t* out,
                                size_t capacity) {
  const uint8_t* arp = frame.payload;
  if (frame.payload_size < kArpBytes) return {Verdict::kTruncated, 0};
  if (LoadBe16(arp) != kArpHardwareEthernet || LoadBe16(arp + 2) != kEtherTypeIpv4) {
    return {Verdict::kUnsupported, 0};
  }
  if (arp[4] != kMacBytes || arp[5] != kIpv4AddressBytes) return {Verdict::kMalformed, 0};
  if (LoadBe16(arp + 6) != kArpRequest) return {Verdict::kUnsupported, 0};
  if (!SameBytes(arp + kArpTargetIp, self.ip, kIpv4AddressBytes)) return {Verdict::kNotForUs, 0};
  // A probe (RFC 5227) has sender IP 0.0.0.0 and is answered like any request; a group or
  // zero sender MAC is not a host to answer.
  const uint8_t* sender_mac = arp + kArpSenderMac;
  constexpr uint8_t kZeroMac[kMacBytes] = {};
  if (IsMulticastMac(sender_mac) || SameBytes(sender_mac, kZeroMac, kMacBytes)) {
    return {Verdict::kMalformed, 0};
  }

  const size_t size = PaddedFrameSize(kEthernetHeaderBytes + kArpBytes);
  if (capacity < size) return {Verdict::kNoRoom, 0};
  ZeroBytes(out, size);
  BuildEthernetHeader(out, sender_mac, self.mac, kEtherTypeArp);
  uint8_t* reply = out + kEthernetHeaderBytes;
  CopyBytes(reply, arp, 6);  // hardware and protocol types and sizes, as checked
  StoreBe16(reply + 6, kArpReply);
  CopyBytes(reply + kArpSenderMac, self.mac, kMacBytes);
  CopyBytes(reply + kArpSenderIp, self.ip, kIpv4AddressBytes);
  CopyBytes(reply + kArpTargetMac, sender_mac, kMacBytes);
  CopyBytes(reply + kArpTargetIp, arp + kArpSenderIp, kIpv4AddressBytes);
  return {Verdict::kReply, size};
}

// ---- IPv4 (RFC 791) ---------------------------------------------------------------------

struct Ipv4Packet {
  uint8_t tos = 0;
  uint8_t protocol = 0;
  const uint8_t* source = nullptr;
  const uint8_t* destination = nullptr;
  const uint8_t* payload = nullptr;  // after the header and its options
  size_t payload_size = 0;           // as the total length says (Ethernet padding excluded)
};

// kOk for a whole, unfragmented datagram to our address, with a valid header.
constexpr Verdict ParseIpv4(const EthernetFrame& frame, const Interface& self, Ipv4Packet* packet) {
  const uint8_t* ip = frame.payload;
  if (frame.payload_size < kIpv4HeaderBytes) return Verdict::kTruncated;
  if ((ip[0] >> 4) != 4) return Verdict::kMalformed;
  const size_t header_size = size_t{ip[0] & 0xfu} * 4;
  if (header_size < kIpv4HeaderBytes) return Verdict::kMalformed;
  if (frame.payload_size < header_size) return Verdict::kTruncated;
  const size_t total_length = LoadBe16(ip + 2);
  if (total_length < header_size) return Verdict::kMalformed;
  if (total_length > frame.payload_size) return Verdict::kTruncated;
  if (InternetChecksum(ip, header_size) != 0) return Verdict::kBadChecksum;
  const uint16_t fragment = LoadBe16(ip + 6);
  if ((fragment & (kIpv4MoreFragments | kIpv4FragmentOffsetMask)) != 0) return Verdict::kFragment;
  if (!SameBytes(ip + 16, self.ip, kIpv4AddressBytes)) return Verdict::kNotForUs;
  if (IsBogusIpv4Source(ip + 12) || SameBytes(ip + 12, self.ip, kIpv4AddressBytes)) {
    return Verdict::kMalformed;
  }
  packet->tos = ip[1];
  packet->protocol = ip[9];
  packet->source = ip + 12;
  packet->destination = ip + 16;
  packet->payload = ip + header_size;
  packet->payload_size = total_length - header_size;
  return Verdict::kOk;
}

// A 20-byte header (no options) of an unfragmented datagram, checksum included. The
// identification is 0: with DF set the datagram is atomic (RFC 6864).
constexpr void BuildIpv4Header(uint8_t* out, uint8_t tos, uint16_t total_length, uint8_t protocol,
                               const uint8_t* source, const uint8_t* destination) {
  out[0] = kIpv4VersionIhl;
  out[1] = tos;
  StoreBe16(out + 2, total_length);
  StoreBe16(out + 4, 0);
  StoreBe16(out + 6, kIpv4DontFragment);
  out[8] = kIpv4Ttl;
  out[9] = protocol;
  StoreBe16(out + 10, 0);
  CopyBytes(out + 12, source, kIpv4AddressBytes);
  CopyBytes(out + 16, destination, kIpv4AddressBytes);
  StoreBe16(out + 10, InternetChecksum(out, kIpv4HeaderBytes));
}

// ---- ICMP (RFC 792) ---------------------------------------------------------------------

// The echo reply to an echo request: the whole message back, type 0, checksum over all of it.
constexpr Outcome BuildIcmpReply(const EthernetFrame& frame, const Ipv4Packet& packet,
                                 const Interface& self, uint8_t* out, size_t capacity) {
  const uint8_t* icmp = packet.payload;
  const size_t icmp_size = packet.payload_size;
  if (icmp_size < kIcmpHeaderBytes) return {Verdict::kTruncated, 0};
  if (InternetChecksum(icmp, icmp_size) != 0) return {Verdict::kBadChecksum, 0};
  if (icmp[0] != kIcmpEchoRequest || icmp[1] != 0) return {Verdict::kUnsupported, 0};

  const size_t headers = kEthernetHeaderBytes + kIpv4HeaderBytes;
  const size_t size = PaddedFrameSize(headers + icmp_size);
  if (capacity < size) return {Verdict::kNoRoom, 0};
  ZeroBytes(out + headers + icmp_size, size - (headers + icmp_size));
  BuildEthernetHeader(out, frame.source, self.mac, kEtherTypeIpv4);
  // The request's total length held the same message after a header of 20 bytes or more.
  BuildIpv4Header(out + kEthernetHeaderBytes, packet.tos,
                  static_cast<uint16_t>(kIpv4HeaderBytes + icmp_size), kIpProtocolIcmp, self.ip,
                  packet.source);
  uint8_t* reply = out + headers;
  CopyBytes(reply, icmp, icmp_size);
  reply[0] = kIcmpEchoReply;
  StoreBe16(reply + 2, 0);
  StoreBe16(reply + 2, InternetChecksum(reply, icmp_size));
  return {Verdict::kReply, size};
}

// ---- Dispatch ---------------------------------------------------------------------------

constexpr Outcome BuildIpv4Reply(const EthernetFrame& frame, const Interface& self, uint8_t* out,
                                 size_t capacity) {
  Ipv4Packet packet;
  if (const Verdict verdict = ParseIpv4(frame, self, &packet); verdict != Verdict::kOk) {
    return {verdict, 0};
  }
  switch (packet.protocol) {
    case kIpProtocolIcmp:
      return BuildIcmpReply(frame, packet, self, out, capacity);
    default:  // kIpProtocolTcp included: see ParseTcpDatagram
      return {Verdict::kUnsupported, 0};
  }
}

// kOk for an IPv4 datagram to us carrying TCP (for tcp.h), with `frame` and `packet` filled;
// otherwise why not (kUnsupported for anything that is not TCP over IPv4).
constexpr Verdict ParseTcpDatagram(const uint8_t* in, size_t size, const Interface& self,
                                   EthernetFrame* frame, Ipv4Packet* packet) {
  if (const Verdict verdict = ParseEthernet(in, size, self, frame); verdict != Verdict::kOk) {
    return verdict;
  }
  if (frame->type != kEtherTypeIpv4) return Verdict::kUnsupported;
  if (const Verdict verdict = ParseIpv4(*frame, self, packet); verdict != Verdict::kOk) {
    return verdict;
  }
  return packet->protocol == kIpProtocolTcp ? Verdict::kOk : Verdict::kUnsupported;
}

// The reply to the Ethernet frame `in` (without FCS) from the interface `self`, built in `out`
// (`capacity` bytes, not overlapping `in`): kReply and its size, or why there is none.
constexpr Outcome BuildReply(const uint8_t* in, size_t size, const Interface& self, uint8_t* out,
                             size_t capacity) {
  EthernetFrame frame;
  if (const Verdict verdict = ParseEthernet(in, size, self, &frame); verdict != Verdict::kOk) {
    return {verdict, 0};
  }
  switch (frame.type) {
    case kEtherTypeArp:
      return BuildArpReply(frame, self, out, capacity);
    case kEtherTypeIpv4:
      return BuildIpv4Reply(frame, self, out, capacity);
    default:
      return {Verdict::kUnsupported, 0};
  }
}

}  // namespace testsvc::kernel::net
