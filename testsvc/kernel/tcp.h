// TCP (RFC 9293) for the guest's one service: passive opens on kServicePort only, up to
// kMaxConnections at a time. Pure and header-only (no memory of its own beyond the Stack object,
// no clock but the `now` tick passed in): the net thread (net.h) runs it in the guest, host unit
// tests feed it segments.
//
// Choices, and why (the guest is a small test service behind one tap, replayed exactly):
//   - Buffers: per connection a linear receive buffer of kReceiveBufferBytes (the application
//     sees the bytes not yet consumed as one run, which a request parser wants) and a send ring
//     of kSendBufferBytes. The window advertised is the receive buffer's free space, exactly;
//     its right edge never moves left (space only shrinks by data arriving at its left edge).
//   - In order only: a segment starting beyond RCV.NXT is dropped and answered with an ACK of
//     what we have; the peer retransmits (its fast retransmit fires on our duplicate ACKs).
//     Data overlapping what we already have is trimmed.
//   - MSS: we advertise kOurMss (1500-byte MTU) and send at most the peer's (536 without the
//     option, RFC 9293 3.7.1). No other option is sent, none but MSS is read: no window
//     scaling (the peer's window is at most 65535 bytes), no SACK, no timestamps.
//   - Sending: whatever the peer's window allows, at once (no Nagle: the application writes all
//     the replies to what it read before we send, so they share segments anyway). Every segment
//     carries the ACK, so ACKs ride on replies; a bare ACK is sent only if nothing else went.
//   - Retransmission: one timer per connection, in PIT ticks. RTO starts at kInitialRtoTicks
//     (200 ms; no RTT estimate: the peer is one hop away), doubles per expiry up to kMaxRtoTicks,
//     and an ACK of new data resets it. On expiry everything from SND.UNA is sent again
//     (go-back-N), at least one byte even into a zero window (which makes the same timer the
//     persist timer). After kMaxRetransmissions expiries without progress the connection is
//     reset (RST) and dropped, a zero-window peer included.
//   - Closing: a FIN from the peer makes CLOSE_WAIT; once the application has answered what
//     came before it, we close too (LAST_ACK). The application may close first (QUIT): FIN_WAIT
//     states, then TIME_WAIT for kTimeWaitTicks (1 s, not 2 MSL: a one-hop network holds no old
//     duplicates, and slots are few); FIN_WAIT_2 waits kFinWait2Ticks at most for the peer's FIN.
//     Input after our close is acknowledged and discarded. A SYN for a pair in TIME_WAIT with a
//     higher sequence number reopens it (RFC 6191 style); a new SYN when every slot is taken
//     takes the TIME_WAIT slot that expires first, or is dropped (the peer retries).
//   - Resets: RST to segments for ports other than kServicePort and for unknown connections
//     (RFC 9293 3.10.7.1); a RST is never answered. RFC 5961: a RST is taken only at exactly
//     RCV.NXT, a SYN or a RST elsewhere in the window gets a "challenge" ACK.
//   - Initial sequence numbers are deterministic: kIsnPerTick per tick (RFC 793's 4 us clock
//     at 100 Hz) plus a mix of the peer's address and port. There is no secret to hash with,
//     and need none: the VM is replayed exactly, so its ISNs must come from its own state.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernel/net_packet.h"

namespace testsvc::kernel::net::tcp {

inline constexpr uint16_t kServicePort = 6379;
inline constexpr size_t kMaxConnections = 16;
inline constexpr size_t kReceiveBufferBytes = 4096;
inline constexpr size_t kSendBufferBytes = 8192;
inline constexpr uint16_t kOurMss = 1460;  // 1500 - 20 (IPv4) - 20 (TCP)
inline constexpr uint16_t kDefaultPeerMss = 536;
// A peer MSS below this is raised to it: tiny segments would only cost us per-packet work.
inline constexpr uint16_t kMinPeerMss = 64;
inline constexpr uint64_t kInitialRtoTicks = 20;  // 200 ms at 100 Hz
inline constexpr uint64_t kMaxRtoTicks = 400;     // 4 s
inline constexpr uint8_t kMaxRetransmissions = 10;
inline constexpr uint64_t kTimeWaitTicks = 100;   // 1 s
inline constexpr uint64_t kFinWait2Ticks = 1000;  // 10 s
inline constexpr uint32_t kIsnPerTick = 2500;

inline constexpr size_t kTcpHeaderBytes = 20;  // without options
inline constexpr size_t kMssOptionBytes = 4;
inline constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;

static_assert(kSendBufferBytes <= 0xffff && kReceiveBufferBytes <= 0xffff,
              "sizes are kept in 16 bits and the window is not scaled");
static_assert((kSendBufferBytes & (kSendBufferBytes - 1)) == 0, "the send ring wraps by mask");

// ---- Sequence numbers (RFC 9293 3.4): modulo 2^32, compared through the signed difference --

constexpr bool SeqLt(uint32_t a, uint32_t b) {
  return static_cast<int32_t>(a - b) < 0;
}
constexpr bool SeqLe(uint32_t a, uint32_t b) {
  return static_cast<int32_t>(a - b) <= 0;
}
constexpr bool SeqGt(uint32_t a, uint32_t b) {
  return SeqLt(b, a);
}
// start <= x < start + size.
constexpr bool SeqInWindow(uint32_t x, uint32_t start, uint32_t size) {
  return x - start < size;
}

constexpr uint32_t LoadBe32(const uint8_t* at) {
  return uint32_t{at[0]} << 24 | uint32_t{at[1]} << 16 | uint32_t{at[2]} << 8 | at[3];
}
constexpr void StoreBe32(uint8_t* at, uint32_t value) {
  StoreBe16(at, static_cast<uint16_t>(value >> 16));
  StoreBe16(at + 2, static_cast<uint16_t>(value));
}

// ---- The checksum, four bytes at a time -------------------------------------------------

// Same contract as ChecksumAdd (net_packet.h), for the bulk of a segment: sums 32-bit words in
// the CPU's (little-endian) order and swaps the folded result, which RFC 1071 2(B) allows, so a
// 1460-byte segment costs ~365 iterations instead of 730 (CPL0 may be emulated).
inline uint64_t ChecksumAddWords(uint64_t sum, const uint8_t* data, size_t size) {
  uint64_t little = 0;
  size_t i = 0;
  for (; i + 4 <= size; i += 4) {
    uint32_t word;
    __builtin_memcpy(&word, data + i, 4);
    little += word;
  }
  for (; i + 1 < size; i += 2) little += uint32_t{data[i]} | uint32_t{data[i + 1]} << 8;
  if (i < size) little += data[i];
  while (little >> 16) little = (little & 0xffff) + (little >> 16);
  return sum + ((little & 0xff) << 8 | little >> 8);
}

// The IPv4 pseudo header's part of the TCP checksum (RFC 9293 3.1).
constexpr uint64_t PseudoHeaderSum(const uint8_t* source, const uint8_t* destination,
                                   size_t tcp_size) {
  uint64_t sum = ChecksumAdd(0, source, kIpv4AddressBytes);
  sum = ChecksumAdd(sum, destination, kIpv4AddressBytes);
  return sum + kIpProtocolTcp + tcp_size;
}

// ---- Segments ---------------------------------------------------------------------------

struct Segment {
  uint16_t source_port = 0;
  uint16_t destination_port = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;
  uint16_t mss = 0;  // the MSS option's value; 0 without one
  const uint8_t* data = nullptr;
  size_t size = 0;

  constexpr bool Has(uint8_t flag) const { return (flags & flag) != 0; }
  // Sequence space taken: the data, and one each for SYN and FIN.
  constexpr uint32_t Length() const {
    return static_cast<uint32_t>(size) + (Has(kSyn) ? 1 : 0) + (Has(kFin) ? 1 : 0);
  }
};

// Reads the options for MSS; kMalformed if one runs past the header.
constexpr Verdict ParseOptions(const uint8_t* tcp, size_t header_size, Segment* segment) {
  size_t i = kTcpHeaderBytes;
  while (i < header_size) {
    const uint8_t kind = tcp[i];
    if (kind == 0) break;  // end of options
    if (kind == 1) {       // no-operation
      ++i;
      continue;
    }
    if (i + 1 >= header_size) return Verdict::kMalformed;
    const size_t length = tcp[i + 1];
    if (length < 2 || i + length > header_size) return Verdict::kMalformed;
    if (kind == 2 && length == kMssOptionBytes) segment->mss = LoadBe16(tcp + i + 2);
    i += length;
  }
  return Verdict::kOk;
}

// kOk for a whole TCP segment with a valid checksum (the pseudo header from `packet`).
inline Verdict ParseSegment(const Ipv4Packet& packet, Segment* segment) {
  const uint8_t* tcp = packet.payload;
  const size_t size = packet.payload_size;
  if (size < kTcpHeaderBytes) return Verdict::kTruncated;
  const size_t header_size = static_cast<size_t>(tcp[12] >> 4) * 4;
  if (header_size < kTcpHeaderBytes) return Verdict::kMalformed;
  if (header_size > size) return Verdict::kTruncated;
  const uint64_t pseudo = PseudoHeaderSum(packet.source, packet.destination, size);
  if (ChecksumFinish(ChecksumAddWords(pseudo, tcp, size)) != 0) return Verdict::kBadChecksum;
  *segment = Segment{};
  segment->source_port = LoadBe16(tcp);
  segment->destination_port = LoadBe16(tcp + 2);
  if (segment->source_port == 0 || segment->destination_port == 0) return Verdict::kMalformed;
  segment->seq = LoadBe32(tcp + 4);
  segment->ack = LoadBe32(tcp + 8);
  segment->flags = tcp[13] & 0x3f;  // URG is ignored like the urgent pointer; ECN bits too
  segment->window = LoadBe16(tcp + 14);
  segment->data = tcp + header_size;
  segment->size = size - header_size;
  return ParseOptions(tcp, header_size, segment);
}

// Where a segment goes: the peer's MAC and address, and the two ports.
struct Route {
  const uint8_t* mac = nullptr;
  const uint8_t* ip = nullptr;
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
};

struct Header {
  uint32_t seq = 0;
  uint32_t ack = 0;  // sent only with kAck (0 otherwise)
  uint8_t flags = 0;
  uint16_t window = 0;
  bool mss_option = false;  // kOurMss, for the SYN-ACK
};

// Data from a ring: up to two pieces.
struct Payload {
  const uint8_t* first = nullptr;
  size_t first_size = 0;
  const uint8_t* second = nullptr;
  size_t second_size = 0;
  constexpr size_t size() const { return first_size + second_size; }
};

// The largest segment payload BuildSegment takes.
inline constexpr size_t kMaxPayloadBytes =
    kEthernetMaxFrameBytes - kEthernetHeaderBytes - kIpv4HeaderBytes - kTcpHeaderBytes;

// Builds the Ethernet frame of one segment in `out` (kEthernetMaxFrameBytes), checksums
// included, padded to the Ethernet minimum; returns its size. The payload must fit
// (kMaxPayloadBytes, less kMssOptionBytes with the option).
inline size_t BuildSegment(uint8_t* out, const Interface& self, const Route& route,
                           const Header& header, const Payload& payload) {
  const size_t tcp_header = kTcpHeaderBytes + (header.mss_option ? kMssOptionBytes : 0);
  const size_t tcp_size = tcp_header + payload.size();
  BuildEthernetHeader(out, route.mac, self.mac, kEtherTypeIpv4);
  BuildIpv4Header(out + kEthernetHeaderBytes, 0, static_cast<uint16_t>(kIpv4HeaderBytes + tcp_size),
                  kIpProtocolTcp, self.ip, route.ip);
  uint8_t* tcp = out + kEthernetHeaderBytes + kIpv4HeaderBytes;
  StoreBe16(tcp, route.local_port);
  StoreBe16(tcp + 2, route.remote_port);
  StoreBe32(tcp + 4, header.seq);
  StoreBe32(tcp + 8, (header.flags & kAck) ? header.ack : 0);
  tcp[12] = static_cast<uint8_t>(tcp_header / 4 << 4);
  tcp[13] = header.flags;
  StoreBe16(tcp + 14, header.window);
  StoreBe16(tcp + 16, 0);  // checksum, below
  StoreBe16(tcp + 18, 0);  // urgent pointer
  if (header.mss_option) {
    tcp[20] = 2;
    tcp[21] = kMssOptionBytes;
    StoreBe16(tcp + 22, kOurMss);
  }
  if (payload.first_size != 0)
    __builtin_memcpy(tcp + tcp_header, payload.first, payload.first_size);
  if (payload.second_size != 0) {
    __builtin_memcpy(tcp + tcp_header + payload.first_size, payload.second, payload.second_size);
  }
  const uint64_t sum = PseudoHeaderSum(self.ip, route.ip, tcp_size);
  StoreBe16(tcp + 16, ChecksumFinish(ChecksumAddWords(sum, tcp, tcp_size)));
  const size_t size = kEthernetHeaderBytes + kIpv4HeaderBytes + tcp_size;
  const size_t padded = PaddedFrameSize(size);
  ZeroBytes(out + size, padded - size);
  return padded;
}

// ---- Connections ------------------------------------------------------------------------

// LISTEN is not a connection state here: it is the port itself (kServicePort), always open.
enum class State : uint8_t {
  kClosed,  // a free slot
  kSynReceived,
  kEstablished,
  kFinWait1,
  kFinWait2,
  kClosing,
  kTimeWait,
  kCloseWait,
  kLastAck,
};

// What the application's pass over a connection's input did (Stack::Serve).
struct AppResult {
  size_t consumed = 0;   // bytes of input used up (from the front)
  bool close = false;    // the application closes the connection (after what it wrote)
  bool blocked = false;  // it stopped for want of send buffer space, input left to do
};

class Connection {
 public:
  State state() const { return state_; }

  // The application's side. Input: the bytes received in order and not consumed yet.
  const uint8_t* received() const { return receive_; }
  size_t received_size() const { return receive_size_; }
  bool receive_full() const { return receive_size_ == kReceiveBufferBytes; }
  // Drops the first `size` (<= received_size()) bytes of input; the window opens by as much.
  void Consume(size_t size) {
    receive_size_ = static_cast<uint16_t>(receive_size_ - size);
    if (receive_size_ != 0) __builtin_memmove(receive_, receive_ + size, receive_size_);
  }
  // Output: room in the send buffer, and appending to it (at most Free() bytes).
  size_t Free() const { return kSendBufferBytes - send_size_; }
  void Write(const uint8_t* data, size_t size) {
    const size_t at = (send_head_ + send_size_) & (kSendBufferBytes - 1);
    const size_t first = size < kSendBufferBytes - at ? size : kSendBufferBytes - at;
    __builtin_memcpy(send_ + at, data, first);
    if (first < size) __builtin_memcpy(send_, data + first, size - first);
    send_size_ = static_cast<uint16_t>(send_size_ + size);
  }

 private:
  friend class Stack;

  // Back to a free slot's values (what the buffers hold no longer matters).
  void Reset() {
    state_ = State::kClosed;
    peer_port_ = 0;
    peer_mss_ = kDefaultPeerMss;
    iss_ = snd_una_ = snd_nxt_ = snd_max_ = snd_wl1_ = snd_wl2_ = fin_seq_ = 0;
    snd_wnd_ = 0;
    irs_ = rcv_nxt_ = rcv_adv_ = 0;
    ack_pending_ = fin_queued_ = fin_sent_ = input_closed_ = false;
    retries_ = 0;
    rto_ = kInitialRtoTicks;
    deadline_ = 0;
    receive_size_ = send_head_ = send_size_ = 0;
  }

  // The window we offer: the receive buffer's free space (all of it once input is discarded).
  uint32_t ReceiveWindow() const {
    return input_closed_ ? kReceiveBufferBytes : kReceiveBufferBytes - receive_size_;
  }
  // Bytes of the send buffer already sent (from SND.UNA on); past its end once the FIN is.
  uint32_t SentOffset() const { return snd_nxt_ - snd_una_; }
  bool FinDue() const { return fin_queued_ && (!fin_sent_ || SeqLe(snd_nxt_, fin_seq_)); }
  bool FinAcknowledged() const { return fin_sent_ && SeqGt(snd_una_, fin_seq_); }
  bool SomethingToSend() const { return SentOffset() < send_size_ || FinDue(); }

  State state_ = State::kClosed;
  uint8_t peer_mac_[kMacBytes] = {};
  uint8_t peer_ip_[kIpv4AddressBytes] = {};
  uint16_t peer_port_ = 0;
  uint16_t peer_mss_ = kDefaultPeerMss;
  // Send sequence space (RFC 9293 3.3.1); snd_max_ is the highest SND.NXT ever, which a
  // go-back retransmission does not lower.
  uint32_t iss_ = 0, snd_una_ = 0, snd_nxt_ = 0, snd_max_ = 0;
  uint32_t snd_wl1_ = 0, snd_wl2_ = 0;
  uint32_t fin_seq_ = 0;
  uint16_t snd_wnd_ = 0;
  // Receive sequence space; rcv_adv_ is the right edge of the window last advertised.
  uint32_t irs_ = 0, rcv_nxt_ = 0, rcv_adv_ = 0;
  bool ack_pending_ = false;   // a segment came that must be acknowledged
  bool fin_queued_ = false;    // we close: a FIN goes after the send buffer's data
  bool fin_sent_ = false;      // it went, as fin_seq_ (snd_max_ counts it)
  bool input_closed_ = false;  // the application closed: input is discarded
  uint8_t retries_ = 0;
  uint64_t rto_ = kInitialRtoTicks;
  uint64_t deadline_ = 0;  // the tick of the timer (retransmission, TIME_WAIT, FIN_WAIT_2); 0: none
  uint16_t receive_size_ = 0;
  uint16_t send_head_ = 0;  // where the byte at SND.UNA is
  uint16_t send_size_ = 0;  // bytes from SND.UNA on, sent or not
  uint8_t receive_[kReceiveBufferBytes] = {};
  uint8_t send_[kSendBufferBytes] = {};
};

class Stack {
 public:
  // Hands a built frame to the card; false if it could not take it (the timer resends data).
  using Transmit = bool (*)(void* context, const uint8_t* frame, size_t size);

  constexpr Stack() = default;

  void Init(const Interface& self, Transmit transmit, void* context) {
    self_ = self;
    transmit_ = transmit;
    context_ = context;
  }
  // Added to every ISN: lets tests put sequence numbers next to the wrap.
  void set_isn_base(uint32_t base) { isn_base_ = base; }

  struct Result {
    bool used = false;                 // false: malformed, or nothing at all done with it
    Connection* connection = nullptr;  // the open connection it was for, to Serve next
  };

  // A TCP datagram (ParseTcpDatagram in net_packet.h) that came in `frame`, at tick `now`.
  Result OnSegment(const EthernetFrame& frame, const Ipv4Packet& packet, uint64_t now) {
    Segment segment;
    if (ParseSegment(packet, &segment) != Verdict::kOk) return {};
    Connection* connection = nullptr;
    if (segment.destination_port == kServicePort) {
      connection = Find(packet.source, segment.source_port);
    }
    if (connection != nullptr && connection->state_ == State::kTimeWait && IsBareSyn(segment) &&
        SeqGt(segment.seq, connection->rcv_nxt_)) {
      Release(*connection);  // a new incarnation of the same pair (RFC 6191)
      connection = nullptr;
    }
    if (connection == nullptr) return {NoConnection(frame, packet, segment, now), nullptr};
    Receive(*connection, segment, now);
    return {true, connection->state_ == State::kClosed ? nullptr : connection};
  }

  // Lets `app` take the connection's input and write replies, closes after the peer's FIN once
  // the input before it is answered, then sends what there is to send. `app` is called as
  //   AppResult app(const uint8_t* input, size_t size, bool input_full, Connection& output)
  // and must leave input it cannot use yet (an incomplete request) unconsumed.
  template <typename App>
  void Serve(Connection& connection, App& app, uint64_t now) {
    const State state = connection.state_;
    if ((state == State::kEstablished || state == State::kCloseWait) && !connection.input_closed_) {
      const AppResult result =
          app(connection.receive_, connection.receive_size_, connection.receive_full(), connection);
      connection.Consume(result.consumed);
      if (result.close || (state == State::kCloseWait && !result.blocked)) Close(connection);
    }
    Flush(connection, now);
  }

  // The application closes: a FIN goes after the data written so far, input is discarded.
  void Close(Connection& connection) {
    if (connection.state_ == State::kEstablished) {
      connection.state_ = State::kFinWait1;
    } else if (connection.state_ == State::kCloseWait) {
      connection.state_ = State::kLastAck;
    } else {
      return;
    }
    connection.fin_queued_ = true;
    connection.input_closed_ = true;
    connection.receive_size_ = 0;
  }

  // Sends what the peer's window allows, else an ACK that is due; arms the timer if needed.
  void Flush(Connection& connection, uint64_t now) {
    if (connection.state_ == State::kClosed) return;
    const bool sent = connection.state_ != State::kSynReceived && SendData(connection, false);
    if (!sent && (connection.ack_pending_ || WindowUpdateDue(connection))) SendAck(connection);
    if (connection.deadline_ == 0 && NeedsTimer(connection)) {
      connection.deadline_ = now + connection.rto_;
    }
  }

  // Runs the timers that are due at `now`.
  void OnTick(uint64_t now) {
    for (Connection& connection : connections_) {
      if (connection.deadline_ != 0 && now >= connection.deadline_) Expire(connection, now);
    }
  }

  // The earliest tick a timer is due; 0 if none runs.
  uint64_t NextDeadline() const {
    uint64_t next = 0;
    for (const Connection& connection : connections_) {
      if (connection.deadline_ != 0 && (next == 0 || connection.deadline_ < next)) {
        next = connection.deadline_;
      }
    }
    return next;
  }

  // Connections in any state but CLOSED (TIME_WAIT included).
  size_t OpenConnections() const {
    size_t open = 0;
    for (const Connection& connection : connections_) {
      if (connection.state_ != State::kClosed) ++open;
    }
    return open;
  }

  Connection& connection(size_t index) { return connections_[index]; }

 private:
  static constexpr bool IsBareSyn(const Segment& segment) {
    return (segment.flags & (kSyn | kAck | kRst)) == kSyn;
  }

  Connection* Find(const uint8_t* ip, uint16_t port) {
    for (Connection& connection : connections_) {
      if (connection.state_ != State::kClosed && connection.peer_port_ == port &&
          SameBytes(connection.peer_ip_, ip, kIpv4AddressBytes)) {
        return &connection;
      }
    }
    return nullptr;
  }

  // A free slot, else the TIME_WAIT one that expires first, else none.
  Connection* Allocate() {
    Connection* oldest = nullptr;
    for (Connection& connection : connections_) {
      if (connection.state_ == State::kClosed) return &connection;
      if (connection.state_ == State::kTimeWait &&
          (oldest == nullptr || connection.deadline_ < oldest->deadline_)) {
        oldest = &connection;
      }
    }
    return oldest;
  }

  static void Release(Connection& connection) { connection.Reset(); }

  uint32_t Isn(uint64_t now, const uint8_t* ip, uint16_t port) const {
    const uint32_t address = LoadBe32(ip);
    const uint32_t mix = (address * 0x9e3779b1u) ^ (uint32_t{port} * 0x85ebca6bu);
    return isn_base_ + static_cast<uint32_t>(now) * kIsnPerTick + mix;
  }

  // ---- Output ----

  bool Send(const Route& route, const Header& header, const Payload& payload = {}) {
    const size_t size = BuildSegment(frame_, self_, route, header, payload);
    return transmit_ != nullptr && transmit_(context_, frame_, size);
  }

  static Route RouteOf(const Connection& connection) {
    return {connection.peer_mac_, connection.peer_ip_, kServicePort, connection.peer_port_};
  }

  // Every segment of a connection carries the ACK and the current window.
  Header HeaderOf(Connection& connection, uint32_t seq, uint8_t flags) {
    const uint32_t window = connection.ReceiveWindow();
    connection.rcv_adv_ = connection.rcv_nxt_ + window;
    connection.ack_pending_ = false;
    return {seq, connection.rcv_nxt_, static_cast<uint8_t>(flags | kAck),
            static_cast<uint16_t>(window), false};
  }

  void SendAck(Connection& connection) {
    Send(RouteOf(connection), HeaderOf(connection, connection.snd_nxt_, 0));
  }

  void SendSynAck(Connection& connection) {
    Header header = HeaderOf(connection, connection.iss_, kSyn);
    header.mss_option = true;
    Send(RouteOf(connection), header);
  }

  // RFC 1122 4.2.3.3: tell the peer once the window has opened by a segment or half the buffer
  // since we last said (the application consumed input it had left for lack of send room).
  static bool WindowUpdateDue(const Connection& connection) {
    const uint32_t threshold =
        kReceiveBufferBytes / 2 < kOurMss ? kReceiveBufferBytes / 2 : kOurMss;
    const uint32_t edge = connection.rcv_nxt_ + connection.ReceiveWindow();
    return SeqGt(edge, connection.rcv_adv_) && edge - connection.rcv_adv_ >= threshold;
  }

  // Sends the unsent data from SND.NXT on, segment by segment, as far as the peer's window goes,
  // and the FIN after the last byte if we close. `probe`: at least one byte (or the FIN) even
  // into a closed window. True if anything was sent.
  bool SendData(Connection& connection, bool probe) {
    bool sent = false;
    while (connection.SomethingToSend()) {
      const uint32_t offset = connection.SentOffset();
      const uint32_t unsent = connection.send_size_ - offset;
      const uint32_t window_end = connection.snd_una_ + connection.snd_wnd_;
      uint32_t room = SeqGt(window_end, connection.snd_nxt_) ? window_end - connection.snd_nxt_ : 0;
      if (probe && !sent && room == 0) room = 1;
      uint32_t size = unsent < room ? unsent : room;
      if (size > connection.peer_mss_) size = connection.peer_mss_;
      const bool fin = connection.FinDue() && size == unsent && (size != 0 || room != 0 || probe);
      if (size == 0 && !fin) break;
      const uint8_t flags = static_cast<uint8_t>((size != 0 ? kPsh : 0) | (fin ? kFin : 0));
      if (!Send(RouteOf(connection), HeaderOf(connection, connection.snd_nxt_, flags),
                PayloadAt(connection, offset, size))) {
        break;  // no transmit buffer: the timer sends it again
      }
      if (fin) {
        connection.fin_sent_ = true;
        connection.fin_seq_ = connection.snd_nxt_ + size;
      }
      connection.snd_nxt_ += size + (fin ? 1 : 0);
      if (SeqGt(connection.snd_nxt_, connection.snd_max_)) {
        connection.snd_max_ = connection.snd_nxt_;
      }
      sent = true;
    }
    return sent;
  }

  static Payload PayloadAt(const Connection& connection, uint32_t offset, uint32_t size) {
    const size_t at = (connection.send_head_ + offset) & (kSendBufferBytes - 1);
    const size_t first = size < kSendBufferBytes - at ? size : kSendBufferBytes - at;
    return {connection.send_ + at, first, connection.send_, size - first};
  }

  // Something sent and not acknowledged, or waiting for the peer's window to open.
  static bool NeedsTimer(const Connection& connection) {
    return connection.snd_una_ != connection.snd_max_ || connection.SomethingToSend();
  }

  // RFC 9293 3.10.7.1: the reset for a segment that has no connection.
  void SendReset(const EthernetFrame& frame, const Ipv4Packet& packet, const Segment& segment) {
    const Route route = {frame.source, packet.source, segment.destination_port,
                         segment.source_port};
    if (segment.Has(kAck)) {
      Send(route, {segment.ack, 0, kRst, 0, false});
    } else {
      Send(route, {0, segment.seq + segment.Length(), static_cast<uint8_t>(kRst | kAck), 0, false});
    }
  }

  // ---- Input ----

  // LISTEN on kServicePort, CLOSED elsewhere (RFC 9293 3.10.7.1 and 3.10.7.2).
  bool NoConnection(const EthernetFrame& frame, const Ipv4Packet& packet, const Segment& segment,
                    uint64_t now) {
    if (segment.Has(kRst)) return false;
    if (segment.destination_port == kServicePort && !segment.Has(kAck)) {
      return segment.Has(kSyn) && Accept(frame, packet, segment, now);
    }
    SendReset(frame, packet, segment);
    return true;
  }

  // A SYN to the listening port: a new connection in SYN_RECEIVED, and our SYN-ACK. Data and
  // FIN on the SYN are not taken (not acknowledged: the peer sends them again).
  bool Accept(const EthernetFrame& frame, const Ipv4Packet& packet, const Segment& segment,
              uint64_t now) {
    Connection* slot = Allocate();
    if (slot == nullptr) return false;
    Connection& connection = *slot;
    connection.Reset();
    connection.state_ = State::kSynReceived;
    CopyBytes(connection.peer_mac_, frame.source, kMacBytes);
    CopyBytes(connection.peer_ip_, packet.source, kIpv4AddressBytes);
    connection.peer_port_ = segment.source_port;
    uint16_t mss = segment.mss != 0 ? segment.mss : kDefaultPeerMss;
    if (mss > kOurMss) mss = kOurMss;
    if (mss < kMinPeerMss) mss = kMinPeerMss;
    connection.peer_mss_ = mss;
    connection.irs_ = segment.seq;
    connection.rcv_nxt_ = segment.seq + 1;
    connection.iss_ = Isn(now, packet.source, segment.source_port);
    connection.snd_una_ = connection.iss_;
    connection.snd_nxt_ = connection.snd_max_ = connection.iss_ + 1;
    connection.snd_wnd_ = segment.window;
    connection.snd_wl1_ = segment.seq;
    SendSynAck(connection);
    connection.deadline_ = now + connection.rto_;
    return true;
  }

  // RFC 9293 3.10.7.4, first check: is any of the segment inside the receive window?
  static bool Acceptable(const Connection& connection, const Segment& segment) {
    const uint32_t window = connection.ReceiveWindow();
    const uint32_t length = segment.Length();
    const uint32_t next = connection.rcv_nxt_;
    if (length == 0) {
      return window == 0 ? segment.seq == next : SeqInWindow(segment.seq, next, window);
    }
    return window != 0 && (SeqInWindow(segment.seq, next, window) ||
                           SeqInWindow(segment.seq + length - 1, next, window));
  }

  // A segment for a synchronized connection (or one in SYN_RECEIVED).
  void Receive(Connection& connection, const Segment& segment, uint64_t now) {
    if (connection.state_ == State::kSynReceived && IsBareSyn(segment) &&
        segment.seq == connection.irs_) {
      SendSynAck(connection);  // our SYN-ACK was lost
      return;
    }
    if (!Acceptable(connection, segment)) {
      if (!segment.Has(kRst)) connection.ack_pending_ = true;
      return;
    }
    // In order only; and RFC 5961: RST or SYN anywhere but exactly here gets a challenge ACK.
    if (SeqGt(segment.seq, connection.rcv_nxt_) || segment.Has(kSyn) ||
        (segment.Has(kRst) && segment.seq != connection.rcv_nxt_)) {
      connection.ack_pending_ = true;
      return;
    }
    if (segment.Has(kRst)) {
      Release(connection);
      return;
    }
    if (!segment.Has(kAck) || !ProcessAck(connection, segment, now)) return;
    ProcessText(connection, segment);
    if (segment.Has(kFin) && segment.seq + segment.size == connection.rcv_nxt_) {
      ProcessFin(connection, now);
    }
  }

  // False if the segment goes no further (or the connection is gone).
  bool ProcessAck(Connection& connection, const Segment& segment, uint64_t now) {
    if (connection.state_ == State::kSynReceived) {
      if (!SeqGt(segment.ack, connection.snd_una_) || SeqGt(segment.ack, connection.snd_max_)) {
        Send(RouteOf(connection), {segment.ack, 0, kRst, 0, false});
        return false;
      }
      // Our SYN is acknowledged (SND.MAX is ISS + 1): the timer stops, the window is taken.
      connection.state_ = State::kEstablished;
      connection.snd_una_ = segment.ack;
      connection.retries_ = 0;
      connection.rto_ = kInitialRtoTicks;
      connection.deadline_ = 0;
      connection.snd_wl1_ = segment.seq - 1;
    }
    if (SeqGt(segment.ack, connection.snd_max_)) {
      connection.ack_pending_ = true;  // acknowledges what we never sent
      return false;
    }
    if (SeqGt(segment.ack, connection.snd_una_)) Acknowledged(connection, segment.ack, now);
    if (SeqLe(connection.snd_una_, segment.ack) &&
        (SeqLt(connection.snd_wl1_, segment.seq) ||
         (connection.snd_wl1_ == segment.seq && SeqLe(connection.snd_wl2_, segment.ack)))) {
      connection.snd_wnd_ = segment.window;
      connection.snd_wl1_ = segment.seq;
      connection.snd_wl2_ = segment.ack;
    }
    if (!connection.FinAcknowledged()) return true;
    switch (connection.state_) {
      case State::kFinWait1:
        connection.state_ = State::kFinWait2;
        connection.deadline_ = now + kFinWait2Ticks;
        return true;
      case State::kClosing:
        EnterTimeWait(connection, now);
        return true;
      case State::kLastAck:
        Release(connection);
        return false;
      default:
        return true;
    }
  }

  // SND.UNA moves up to `ack`: the acknowledged data leaves the send buffer.
  static void Acknowledged(Connection& connection, uint32_t ack, uint64_t now) {
    // The FIN takes sequence space after the data but no buffer.
    uint32_t data = ack - connection.snd_una_;
    if (data > connection.send_size_) data = connection.send_size_;
    connection.send_head_ =
        static_cast<uint16_t>((connection.send_head_ + data) & (kSendBufferBytes - 1));
    connection.send_size_ = static_cast<uint16_t>(connection.send_size_ - data);
    connection.snd_una_ = ack;
    if (SeqLt(connection.snd_nxt_, ack)) connection.snd_nxt_ = ack;  // after a go-back
    connection.retries_ = 0;
    connection.rto_ = kInitialRtoTicks;
    // Restarted for what is still out; Flush arms it if only the window holds data back.
    connection.deadline_ = connection.snd_una_ != connection.snd_max_ ? now + connection.rto_ : 0;
  }

  // The segment's data from RCV.NXT on, as far as the window goes.
  static void ProcessText(Connection& connection, const Segment& segment) {
    if (segment.Length() != 0) connection.ack_pending_ = true;
    const State state = connection.state_;
    if (state != State::kEstablished && state != State::kFinWait1 && state != State::kFinWait2) {
      return;  // the peer's FIN came already: nothing more is taken
    }
    const uint32_t skip = connection.rcv_nxt_ - segment.seq;  // already have these
    if (skip >= segment.size) return;
    size_t size = segment.size - skip;
    const uint32_t window = connection.ReceiveWindow();
    if (size > window) size = window;
    if (!connection.input_closed_) {
      __builtin_memcpy(connection.receive_ + connection.receive_size_, segment.data + skip, size);
      connection.receive_size_ = static_cast<uint16_t>(connection.receive_size_ + size);
    }
    connection.rcv_nxt_ += static_cast<uint32_t>(size);
  }

  static void ProcessFin(Connection& connection, uint64_t now) {
    connection.rcv_nxt_ += 1;
    connection.ack_pending_ = true;
    switch (connection.state_) {
      case State::kEstablished:
        connection.state_ = State::kCloseWait;
        break;
      case State::kFinWait1:  // our FIN is not acknowledged yet (else it would be FIN_WAIT_2)
        connection.state_ = State::kClosing;
        break;
      case State::kFinWait2:
        EnterTimeWait(connection, now);
        break;
      default:
        break;
    }
  }

  static void EnterTimeWait(Connection& connection, uint64_t now) {
    connection.state_ = State::kTimeWait;
    connection.deadline_ = now + kTimeWaitTicks;
  }

  // ---- Timers ----

  void Expire(Connection& connection, uint64_t now) {
    connection.deadline_ = 0;
    if (connection.state_ == State::kTimeWait || connection.state_ == State::kFinWait2) {
      Release(connection);
      return;
    }
    if (!NeedsTimer(connection)) return;
    if (++connection.retries_ > kMaxRetransmissions) {
      Send(RouteOf(connection),
           {connection.snd_max_, connection.rcv_nxt_, static_cast<uint8_t>(kRst | kAck), 0, false});
      Release(connection);
      return;
    }
    connection.rto_ = connection.rto_ * 2 < kMaxRtoTicks ? connection.rto_ * 2 : kMaxRtoTicks;
    connection.deadline_ = now + connection.rto_;
    if (connection.state_ == State::kSynReceived) {
      SendSynAck(connection);
      return;
    }
    connection.snd_nxt_ = connection.snd_una_;  // go back: all that is out may be lost
    SendData(connection, true);
  }

  Interface self_ = {};
  Transmit transmit_ = nullptr;
  void* context_ = nullptr;
  uint32_t isn_base_ = 0;
  uint8_t frame_[kEthernetMaxFrameBytes] = {};
  Connection connections_[kMaxConnections] = {};
};

}  // namespace testsvc::kernel::net::tcp
