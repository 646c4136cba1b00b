#include "logging_channel/message_codec.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "virtio_state_codec.h"
#include "wire.h"

namespace ftvm::channel {
namespace {

Result<void> check_hello_bounds(const Hello& m) {
  if (auto ok = check_field("hello", "vm_id", m.vm_id.size(), kMaxVmIdBytes); !ok) return ok;
  if (auto ok = check_field("hello", "trace_header", m.trace_header.size(), kMaxTraceHeaderBytes);
      !ok) {
    return ok;
  }
  return check_field("hello", "guest_image", m.guest_image.size(), kMaxGuestImageBytes);
}

// Why a page run cannot follow `previous_end` (the end of the run before it), or nothing.
std::optional<std::string> misplaced_run(const PageRun& run, uint64_t previous_end) {
  if (run.first_gpa % kTransferPageBytes != 0) {
    return fmt::format("starts at {:#x}, not on a page", run.first_gpa);
  }
  if (run.pages == 0) return "is empty";
  if (run.first_gpa < previous_end) {
    return fmt::format("starts at {:#x}, before the end of the run before it ({:#x})",
                       run.first_gpa, previous_end);
  }
  if (run.first_gpa > UINT64_MAX - uint64_t{run.pages} * kTransferPageBytes) {
    return fmt::format("of {} pages from {:#x} ends past the address space", run.pages,
                       run.first_gpa);
  }
  return std::nullopt;
}

Result<void> check_state_pages_bounds(const StatePages& m) {
  uint64_t previous_end = 0;
  uint64_t pages = 0;
  for (const PageRun& run : m.runs) {
    if (auto why = misplaced_run(run, previous_end)) {
      return make_error("a state-pages message's run " + *why);
    }
    pages += run.pages;
    previous_end = run.first_gpa + uint64_t{run.pages} * kTransferPageBytes;
  }
  if (m.runs.size() > kMaxStatePagesPerMessage || pages > kMaxStatePagesPerMessage) {
    return make_error(fmt::format("a state-pages message holds {} pages, over the maximum of {}",
                                  pages, kMaxStatePagesPerMessage));
  }
  return check_field("state-pages", "compressed", m.compressed.size(),
                     kMaxStatePagesCompressedBytes);
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
  put_le(out, static_cast<uint8_t>(m.state_follows ? 1 : 0));
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

void encode_fields(const StatePages& m, std::vector<uint8_t>& out) {
  put_le(out, m.round);
  put_le(out, static_cast<uint32_t>(m.runs.size()));
  for (const PageRun& run : m.runs) {
    put_le(out, run.first_gpa);
    put_le(out, run.pages);
  }
  put_byte_string(out, m.compressed);
}

void encode_fields(const StateDone& m, std::vector<uint8_t>& out) {
  put_le(out, m.rounds);
  put_le(out, m.exit_count);
  put_le(out,
         static_cast<uint8_t>((m.if_flag ? 1 : 0) | (m.ready_for_interrupt_injection ? 2 : 0)));
  put_byte_string(out, m.console_input);
  put_byte_string(out, m.machine_state);
  put_le(out, m.first_lsn);
  put_le(out, m.output_bytes);
  put_le(out, m.clock_monotonic_ns);
  put_le(out, static_cast<uint64_t>(m.clock_realtime_ns));
  put_le(out, m.console_input_logged);
  encode_virtio_states(m.virtio, out);
}

Hello decode_hello(WireReader& in) {
  Hello m;
  m.protocol_version = in.u32("protocol_version");
  m.vm_id = in.text("vm_id", kMaxVmIdBytes);
  m.generation = in.u64("generation");
  m.trace_header = in.byte_string("trace_header", kMaxTraceHeaderBytes);
  m.guest_image = in.byte_string("guest_image", kMaxGuestImageBytes);
  const uint8_t state_follows = in.u8("state_follows");
  if (state_follows > 1)
    in.reject("state_follows", fmt::format("is {}, not 0 or 1", state_follows));
  m.state_follows = state_follows == 1;
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

StatePages decode_state_pages(WireReader& in) {
  StatePages m;
  m.round = in.u32("round");
  const uint32_t count = in.u32("run_count");
  if (count > kMaxStatePagesPerMessage) {
    in.reject("run_count",
              fmt::format("is {}, over the maximum of {}", count, kMaxStatePagesPerMessage));
    return m;
  }
  uint64_t previous_end = 0;
  uint64_t pages = 0;
  for (uint32_t i = 0; i < count; ++i) {
    PageRun run{in.u64("run.first_gpa"), in.u32("run.pages")};
    if (!in.ok()) return m;
    if (auto why = misplaced_run(run, previous_end)) {
      in.reject("runs", fmt::format("(run {}) {}", i, *why));
      return m;
    }
    pages += run.pages;
    if (pages > kMaxStatePagesPerMessage) {
      in.reject("runs", fmt::format("hold more than {} pages", kMaxStatePagesPerMessage));
      return m;
    }
    previous_end = run.first_gpa + uint64_t{run.pages} * kTransferPageBytes;
    m.runs.push_back(run);
  }
  m.compressed = in.byte_string("compressed", kMaxStatePagesCompressedBytes);
  return m;
}

StateDone decode_state_done(WireReader& in) {
  StateDone m;
  m.rounds = in.u32("rounds");
  m.exit_count = in.u64("exit_count");
  const uint8_t flags = in.u8("interrupt_flags");
  if (flags > 3) in.reject("interrupt_flags", fmt::format("has unknown bits ({:#x})", flags));
  m.if_flag = (flags & 1) != 0;
  m.ready_for_interrupt_injection = (flags & 2) != 0;
  m.console_input = in.byte_string("console_input", kMaxTransferredConsoleInputBytes);
  m.machine_state = in.byte_string("machine_state", kMaxMachineStateBytes);
  m.first_lsn = in.u64("first_lsn");
  m.output_bytes = in.u64("output_bytes");
  m.clock_monotonic_ns = in.u64("clock_monotonic_ns");
  m.clock_realtime_ns = static_cast<int64_t>(in.u64("clock_realtime_ns"));
  m.console_input_logged = in.u64("console_input_logged");
  m.virtio = decode_virtio_states(in);
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
    case MessageType::kStatePages:
      return decode_state_pages(in);
    case MessageType::kStateDone:
      return decode_state_done(in);
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
  if (const auto* pages = std::get_if<StatePages>(&m)) return check_state_pages_bounds(*pages);
  if (const auto* done = std::get_if<StateDone>(&m)) {
    if (auto ok = check_field("state-done", "console_input", done->console_input.size(),
                              kMaxTransferredConsoleInputBytes);
        !ok) {
      return ok;
    }
    if (auto ok = check_field("state-done", "machine_state", done->machine_state.size(),
                              kMaxMachineStateBytes);
        !ok) {
      return ok;
    }
    return check_virtio_bounds(done->virtio);
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
