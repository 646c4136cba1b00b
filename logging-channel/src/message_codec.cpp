#include "logging_channel/message_codec.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "wire.h"

namespace ftvm::channel {
namespace {

Result<void> check_field(const char* message, const char* field, size_t bytes, size_t max) {
  if (bytes <= max) return {};
  return make_error(fmt::format("the {} message's {} is {} bytes, over the maximum of {} bytes",
                                message, field, bytes, max));
}

Result<void> check_hello_bounds(const Hello& m) {
  if (auto ok = check_field("hello", "vm_id", m.vm_id.size(), kMaxVmIdBytes); !ok) return ok;
  if (auto ok = check_field("hello", "trace_header", m.trace_header.size(), kMaxTraceHeaderBytes);
      !ok) {
    return ok;
  }
  return check_field("hello", "guest_image", m.guest_image.size(), kMaxGuestImageBytes);
}

std::span<const uint8_t> as_bytes(const std::string& text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

void encode_fields(const Hello& m, std::vector<uint8_t>& out) {
  put_le(out, m.protocol_version);
  put_byte_string(out, as_bytes(m.vm_id));
  put_le(out, m.generation);
  put_byte_string(out, m.trace_header);
  put_byte_string(out, m.guest_image);
}

void encode_fields(const LogChunk& m, std::vector<uint8_t>& out) {
  put_le(out, m.sent_ns);
  put_le(out, m.released_output_bytes);
  put_byte_string(out, m.chunk);
}

void encode_fields(const Heartbeat& m, std::vector<uint8_t>& out) {
  put_le(out, m.sent_ns);
  put_le(out, m.released_output_bytes);
  put_le(out, m.primary_exit_count);
}

void encode_fields(const Ack& m, std::vector<uint8_t>& out) {
  put_le(out, m.received_lsn);
  put_le(out, m.replayed_lsn);
  put_le(out, m.replay_exit_count);
  put_le(out, m.echo_sent_ns);
  put_le(out, m.breakpoint_hit_ns);
  put_le(out, m.checkpoint_load_ns);
}

void encode_fields(const Goodbye& m, std::vector<uint8_t>& out) {
  put_byte_string(out, as_bytes(m.reason));
}

void encode_fields(const Greeting& m, std::vector<uint8_t>& out) {
  // resize and copy rather than insert: GCC 12 misreads the bounds of an insert here.
  const size_t at = out.size();
  out.resize(at + 1 + m.nonce.size());
  out[at] = static_cast<uint8_t>(m.sender);
  std::copy(m.nonce.begin(), m.nonce.end(), out.begin() + static_cast<std::ptrdiff_t>(at + 1));
}

Hello decode_hello(WireReader& in) {
  Hello m;
  m.protocol_version = in.u32("protocol_version");
  m.vm_id = in.text("vm_id", kMaxVmIdBytes);
  m.generation = in.u64("generation");
  m.trace_header = in.byte_string("trace_header", kMaxTraceHeaderBytes);
  m.guest_image = in.byte_string("guest_image", kMaxGuestImageBytes);
  return m;
}

LogChunk decode_log_chunk(WireReader& in) {
  LogChunk m;
  m.sent_ns = in.u64("sent_ns");
  m.released_output_bytes = in.u64("released_output_bytes");
  m.chunk = in.byte_string("chunk", kMaxLogChunkBytes);
  return m;
}

Heartbeat decode_heartbeat(WireReader& in) {
  Heartbeat m;
  m.sent_ns = in.u64("sent_ns");
  m.released_output_bytes = in.u64("released_output_bytes");
  m.primary_exit_count = in.u64("primary_exit_count");
  return m;
}

Ack decode_ack(WireReader& in) {
  Ack m;
  m.received_lsn = in.u64("received_lsn");
  m.replayed_lsn = in.u64("replayed_lsn");
  m.replay_exit_count = in.u64("replay_exit_count");
  m.echo_sent_ns = in.u64("echo_sent_ns");
  m.breakpoint_hit_ns = in.u64("breakpoint_hit_ns");
  m.checkpoint_load_ns = in.u64("checkpoint_load_ns");
  return m;
}

Goodbye decode_goodbye(WireReader& in) {
  return Goodbye{in.text("reason", kMaxGoodbyeReasonBytes)};
}

Greeting decode_greeting(WireReader& in) {
  Greeting m;
  const uint8_t sender = in.u8("sender");
  if (sender == static_cast<uint8_t>(ChannelRole::kPrimary) ||
      sender == static_cast<uint8_t>(ChannelRole::kBackup)) {
    m.sender = static_cast<ChannelRole>(sender);
  } else {
    in.reject("sender", fmt::format("names no role ({}; 1 = primary, 2 = backup)", sender));
  }
  in.bytes("nonce", m.nonce);
  return m;
}

Message decode_fields(MessageType type, WireReader& in) {
  switch (type) {
    case MessageType::kHello:
      return decode_hello(in);
    case MessageType::kLogChunk:
      return decode_log_chunk(in);
    case MessageType::kHeartbeat:
      return decode_heartbeat(in);
    case MessageType::kAck:
      return decode_ack(in);
    case MessageType::kGreeting:
      return decode_greeting(in);
    case MessageType::kGoodbye:
      break;
  }
  return decode_goodbye(in);
}

}  // namespace

Result<void> check_bounds(const Message& m) {
  if (const auto* hello = std::get_if<Hello>(&m)) return check_hello_bounds(*hello);
  if (const auto* log = std::get_if<LogChunk>(&m)) {
    return check_field("log", "chunk", log->chunk.size(), kMaxLogChunkBytes);
  }
  if (const auto* goodbye = std::get_if<Goodbye>(&m)) {
    return check_field("goodbye", "reason", goodbye->reason.size(), kMaxGoodbyeReasonBytes);
  }
  return {};
}

std::vector<uint8_t> encode_payload(const Message& m) {
  if (auto bounds = check_bounds(m); !bounds) {
    std::fprintf(stderr, "ftvm: bug: encoding a message over its bounds: %s\n",
                 bounds.error().message.c_str());
    std::abort();
  }
  std::vector<uint8_t> out;
  std::visit([&out](const auto& message) { encode_fields(message, out); }, m);
  return out;
}

Result<Message> decode_payload(uint8_t type, std::span<const uint8_t> payload) {
  if (!is_message_type(type)) {
    return make_error(fmt::format(
        "unknown message type {}: the peer speaks another protocol version or is not an ftvm "
        "logging channel",
        type));
  }
  const auto known = static_cast<MessageType>(type);
  WireReader in(payload, message_name(known));
  Message message = decode_fields(known, in);
  if (auto ok = in.finish(); !ok) return ok.error();
  return message;
}

Result<void> check_protocol_version(const Hello& hello) {
  if (hello.protocol_version == kProtocolVersion) return {};
  return make_error(fmt::format(
      "the primary speaks logging channel protocol version {}, this ftvm speaks version {}: run "
      "the same ftvm version on both hosts",
      hello.protocol_version, kProtocolVersion));
}

}  // namespace ftvm::channel
