#include "disk/nbd_session.h"

#include <fmt/format.h>

#include <algorithm>

namespace ftvm::disk {

using namespace nbd;

namespace {

constexpr size_t kExportNameZeroPad = 124;
constexpr uint32_t kPreferredBlockBytes = 4096;
// Names and messages stay printable in the server's log.
std::string printable(std::span<const uint8_t> bytes) {
  std::string out;
  constexpr size_t kShown = 192;  // a long export name with its writer token
  for (const uint8_t b : bytes.first(std::min<size_t>(bytes.size(), kShown))) {
    out += (b >= 0x20 && b < 0x7f) ? static_cast<char>(b) : '?';
  }
  return bytes.size() > kShown ? out + "..." : out;
}

std::string printable(std::string_view text) {
  return printable(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

const char* option_name(uint32_t option) {
  switch (option) {
    case kOptExportName:
      return "EXPORT_NAME";
    case kOptAbort:
      return "ABORT";
    case kOptList:
      return "LIST";
    case kOptStartTls:
      return "STARTTLS";
    case kOptInfo:
      return "INFO";
    case kOptGo:
      return "GO";
    case kOptStructuredReply:
      return "STRUCTURED_REPLY";
    case kOptListMetaContext:
      return "LIST_META_CONTEXT";
    case kOptSetMetaContext:
      return "SET_META_CONTEXT";
  }
  return "unknown";
}

// The command flags each request may carry; anything else is NBD_EINVAL.
uint16_t allowed_flags(uint16_t type) {
  switch (type) {
    case kCmdWrite:
    case kCmdTrim:
      return kCmdFlagFua;
    case kCmdWriteZeroes:
      return kCmdFlagFua | kCmdFlagNoHole;
    default:
      return 0;
  }
}

// CAN_MULTI_CONN holds: every connection writes the same file, and FLUSH syncs the file, so
// it makes every write completed on any connection durable.
uint16_t transmission_flags_for(const NbdExportInfo& e) {
  if (e.read_only) return kTxHasFlags | kTxReadOnly | kTxSendFlush | kTxCanMultiConn;
  return kTxHasFlags | kTxSendFlush | kTxSendFua | kTxSendTrim | kTxSendWriteZeroes |
         kTxCanMultiConn;
}

}  // namespace

NbdSession::NbdSession(std::vector<NbdExportInfo> exports) : exports_(std::move(exports)) {
  put_be(output_, kInitMagic);
  put_be(output_, kOptionMagic);
  put_be(output_, static_cast<uint16_t>(kFlagFixedNewstyle | kFlagNoZeroes));
}

void NbdSession::feed(std::span<const uint8_t> bytes) {
  take_payload_bytes(bytes);
  if (consumed_ > 0) {
    input_.erase(input_.begin(), input_.begin() + static_cast<std::ptrdiff_t>(consumed_));
    consumed_ = 0;
  }
  // Option data being discarded never enters the buffer.
  const size_t drop = static_cast<size_t>(std::min<uint64_t>(discarding_, bytes.size()));
  if (drop > 0 && input_.empty()) {
    discarding_ -= drop;
    bytes = bytes.subspan(drop);
    if (discarding_ == 0) {
      option_error(discarding_option_, kRepErrTooBig,
                   fmt::format("option data over {} bytes", kMaxOptionBytes));
    }
  }
  input_.insert(input_.end(), bytes.begin(), bytes.end());
}

// A write's payload goes straight where the request will hand it out: it is never buffered
// and moved again.
void NbdSession::take_payload_bytes(std::span<const uint8_t>& bytes) {
  if (!collecting_ || bytes.empty()) return;
  const size_t count = std::min(bytes.size(), collecting_->payload.size() - collected_);
  std::copy_n(bytes.begin(), count, collecting_->payload.begin() + collected_);
  collected_ += count;
  bytes = bytes.subspan(count);
}

std::span<uint8_t> NbdSession::payload_room() {
  if (!collecting_) return {};
  return std::span<uint8_t>(collecting_->payload).subspan(collected_);
}

void NbdSession::payload_received(size_t count) {
  if (collecting_) collected_ = std::min(collecting_->payload.size(), collected_ + count);
}

size_t NbdSession::buffered_bytes() const {
  return input_.size() - consumed_ + (collecting_ ? collected_ : 0);
}

std::vector<uint8_t> NbdSession::take_output() {
  return std::exchange(output_, {});
}

std::span<const uint8_t> NbdSession::unread() const {
  return std::span<const uint8_t>(input_).subspan(consumed_);
}

void NbdSession::consume(size_t count) {
  consumed_ += count;
}

Result<std::optional<NbdRequest>> NbdSession::next_request() {
  if (ended_) return *ended_;
  while (phase_ != Phase::kTransmission) {
    auto stepped = step();
    if (!stepped) {
      phase_ = Phase::kEnded;
      ended_ = stepped.error();
      return *ended_;
    }
    if (!*stepped) return std::optional<NbdRequest>();
  }
  if (collecting_) {
    if (collected_ < collecting_->payload.size()) return std::optional<NbdRequest>();
    std::optional<NbdRequest> whole = std::move(collecting_);
    collecting_.reset();
    collected_ = 0;
    return whole;
  }
  const auto bytes = unread();
  if (bytes.size() < kRequestHeaderBytes) return std::optional<NbdRequest>();
  const uint32_t magic = load_be<uint32_t>(bytes.data());
  if (magic != kRequestMagic) {
    ended_ =
        make_error(fmt::format("bad request magic {:#010x}: the client is out of step", magic));
    return *ended_;
  }
  NbdRequest request;
  request.flags = load_be<uint16_t>(bytes.data() + 4);
  request.type = load_be<uint16_t>(bytes.data() + 6);
  request.cookie = load_be<uint64_t>(bytes.data() + 8);
  request.offset = load_be<uint64_t>(bytes.data() + 16);
  request.length = load_be<uint32_t>(bytes.data() + 24);
  size_t total = kRequestHeaderBytes;
  if (request.type == kCmdWrite) {
    // The payload follows whatever the server thinks of it; one this large cannot be skipped
    // safely, so the connection ends (NBD allows a hard disconnect here).
    if (request.length > kMaxPayloadBytes) {
      ended_ = make_error(fmt::format("a write of {} bytes, over the {} byte maximum",
                                      request.length, kMaxPayloadBytes));
      return *ended_;
    }
    const size_t here = std::min<size_t>(bytes.size() - kRequestHeaderBytes, request.length);
    request.payload.resize(request.length);
    std::copy_n(bytes.begin() + kRequestHeaderBytes, here, request.payload.begin());
    total += here;
    if (here < request.length) {
      collecting_ = std::move(request);
      collected_ = here;
      consume(total);
      return std::optional<NbdRequest>();
    }
  }
  consume(total);
  return std::optional<NbdRequest>(std::move(request));
}

Result<bool> NbdSession::step() {
  if (discarding_ > 0) return false;
  switch (phase_) {
    case Phase::kClientFlags:
      return read_client_flags();
    case Phase::kOptions:
      return read_option();
    case Phase::kTransmission:
    case Phase::kEnded:
      break;
  }
  return false;
}

Result<bool> NbdSession::read_client_flags() {
  const auto bytes = unread();
  if (bytes.size() < 4) return false;
  const uint32_t flags = load_be<uint32_t>(bytes.data());
  consume(4);
  if ((flags & ~(kClientFlagFixedNewstyle | kClientFlagNoZeroes)) != 0) {
    return make_error(fmt::format("unknown client flags {:#x}", flags));
  }
  no_zeroes_ = (flags & kClientFlagNoZeroes) != 0;
  phase_ = Phase::kOptions;
  return true;
}

Result<bool> NbdSession::read_option() {
  const auto bytes = unread();
  if (bytes.size() < kOptionHeaderBytes) return false;
  const uint64_t magic = load_be<uint64_t>(bytes.data());
  if (magic != kOptionMagic) {
    return make_error(fmt::format("bad option magic {:#018x}: the client is out of step", magic));
  }
  const uint32_t option = load_be<uint32_t>(bytes.data() + 8);
  const uint32_t length = load_be<uint32_t>(bytes.data() + 12);
  if (length > kMaxOptionBytes) {
    consume(kOptionHeaderBytes);
    const auto rest = unread();
    const size_t now = std::min<size_t>(rest.size(), length);
    consume(now);
    discarding_ = length - now;
    discarding_option_ = option;
    if (discarding_ == 0) {
      option_error(option, kRepErrTooBig,
                   fmt::format("option data over {} bytes", kMaxOptionBytes));
    }
    return true;
  }
  if (bytes.size() < kOptionHeaderBytes + length) return false;
  const std::vector<uint8_t> data(bytes.begin() + kOptionHeaderBytes,
                                  bytes.begin() + kOptionHeaderBytes + length);
  consume(kOptionHeaderBytes + length);
  if (auto r = handle_option(option, data); !r) return r.error();
  return true;
}

Result<void> NbdSession::handle_option(uint32_t option, std::span<const uint8_t> data) {
  switch (option) {
    case kOptExportName:
      return export_name(data);
    case kOptAbort:
      option_reply(option, kRepAck);
      return make_error("the client aborted the handshake");
    case kOptList:
      if (!data.empty()) {
        option_error(option, kRepErrInvalid, "LIST takes no data");
      } else {
        list();
      }
      return {};
    case kOptInfo:
    case kOptGo:
      info_or_go(option, data);
      return {};
    case kOptStructuredReply:
      if (!data.empty()) {
        option_error(option, kRepErrInvalid, "STRUCTURED_REPLY takes no data");
      } else {
        structured_ = true;
        option_reply(option, kRepAck);
      }
      return {};
    case kOptListMetaContext:
    case kOptSetMetaContext:
      // No metadata contexts are served: an empty answer is a valid one.
      if (!structured_) {
        option_error(option, kRepErrInvalid, "negotiate structured replies first");
      } else {
        option_reply(option, kRepAck);
      }
      return {};
    default:
      option_error(option, kRepErrUnsup,
                   fmt::format("option {} ({}) is not supported", option, option_name(option)));
      return {};
  }
}

Result<void> NbdSession::export_name(std::span<const uint8_t> data) {
  const std::string name(data.begin(), data.end());
  auto found = find_export(name);
  // The old way to choose an export has no error reply: the server can only hang up.
  if (!found) return found.error();
  chosen_ = found->index;
  writer_ = std::move(found->writer);
  put_be(output_, exports_[chosen_].size);
  put_be(output_, transmission_flags());
  if (!no_zeroes_) output_.insert(output_.end(), kExportNameZeroPad, 0);
  phase_ = Phase::kTransmission;
  return {};
}

void NbdSession::list() {
  for (const auto& e : exports_) {
    std::vector<uint8_t> payload;
    put_be(payload, static_cast<uint32_t>(e.name.size()));
    payload.insert(payload.end(), e.name.begin(), e.name.end());
    option_reply(kOptList, kRepServer, payload);
  }
  option_reply(kOptList, kRepAck);
}

// data: u32 name length, name, u16 count, count x u16 information requests.
void NbdSession::info_or_go(uint32_t option, std::span<const uint8_t> data) {
  if (data.size() < 6) {
    option_error(option, kRepErrInvalid, "option data too short");
    return;
  }
  const uint32_t name_length = load_be<uint32_t>(data.data());
  if (name_length > data.size() - 6) {
    option_error(option, kRepErrInvalid, "export name length past the option's end");
    return;
  }
  const auto name = data.subspan(4, name_length);
  const auto requests = data.subspan(4 + name_length);
  const uint16_t count = load_be<uint16_t>(requests.data());
  if (requests.size() != 2 + size_t{count} * 2) {
    option_error(option, kRepErrInvalid, "information request count does not match the data");
    return;
  }
  auto found = find_export(std::string(name.begin(), name.end()));
  if (!found) {
    option_error(option, kRepErrUnknown, found.error().message);
    return;
  }
  const NbdExportInfo& chosen = exports_[found->index];
  std::vector<uint8_t> info;
  put_be(info, kInfoExport);
  put_be(info, chosen.size);
  put_be(info, transmission_flags_for(chosen));
  option_reply(option, kRepInfo, info);
  for (size_t i = 0; i < count; ++i) {
    if (load_be<uint16_t>(requests.data() + 2 + 2 * i) != kInfoBlockSize) continue;
    std::vector<uint8_t> sizes;
    put_be(sizes, kInfoBlockSize);
    put_be(sizes, uint32_t{1});
    put_be(sizes, kPreferredBlockBytes);
    put_be(sizes, kMaxPayloadBytes);
    option_reply(option, kRepInfo, sizes);
    break;
  }
  option_reply(option, kRepAck);
  if (option == kOptGo) {
    chosen_ = found->index;
    writer_ = std::move(found->writer);
    phase_ = Phase::kTransmission;
  }
}

void NbdSession::option_reply(uint32_t option, uint32_t type, std::span<const uint8_t> data) {
  put_be(output_, kOptionReplyMagic);
  put_be(output_, option);
  put_be(output_, type);
  put_be(output_, static_cast<uint32_t>(data.size()));
  output_.insert(output_.end(), data.begin(), data.end());
}

void NbdSession::option_error(uint32_t option, uint32_t type, std::string_view message) {
  option_reply(
      option, type,
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(message.data()), message.size()));
}

Result<NbdSession::Choice> NbdSession::find_export(std::string_view name) const {
  Choice choice;
  if (const size_t at = name.find(kWriterTokenSeparator); at != std::string_view::npos) {
    auto writer = parse_writer_token(name.substr(at + 1));
    if (!writer) {
      return make_error(
          fmt::format("export name '{}': {}", printable(name), writer.error().message));
    }
    choice.writer = std::move(*writer);
    name = name.substr(0, at);
  }
  if (name.empty()) return choice;
  for (size_t i = 0; i < exports_.size(); ++i) {
    if (exports_[i].name == name) {
      choice.index = i;
      return choice;
    }
  }
  return make_error(fmt::format("no export named '{}'", printable(name)));
}

uint16_t NbdSession::transmission_flags() const {
  return transmission_flags_for(exports_[chosen_]);
}

Errno NbdSession::check(const NbdRequest& request) const {
  const NbdExportInfo& e = export_info();
  if ((request.flags & ~allowed_flags(request.type)) != 0) return kEinval;
  const bool past_end = request.offset > e.size || request.length > e.size - request.offset;
  switch (request.type) {
    case kCmdRead:
      if (request.length == 0 || request.length > kMaxPayloadBytes || past_end) return kEinval;
      return kOk;
    case kCmdWrite:
    case kCmdWriteZeroes:
    case kCmdTrim:
      if (e.read_only) return kEperm;
      if (request.length == 0 && request.type == kCmdWrite) return kEinval;
      if (past_end) return request.type == kCmdTrim ? kEinval : kEnospc;
      return kOk;
    case kCmdFlush:
    case kCmdDisc:
      return kOk;
    default:
      return kEinval;  // CACHE and BLOCK_STATUS are not offered; the rest are unknown
  }
}

std::vector<uint8_t> NbdSession::read_reply_header(const NbdRequest& request,
                                                   size_t data_bytes) const {
  std::vector<uint8_t> out;
  if (!structured_) {
    put_be(out, kSimpleReplyMagic);
    put_be(out, uint32_t{kOk});
    put_be(out, request.cookie);
    return out;
  }
  put_be(out, kStructuredReplyMagic);
  put_be(out, kReplyFlagDone);
  put_be(out, kReplyTypeOffsetData);
  put_be(out, request.cookie);
  put_be(out, static_cast<uint32_t>(8 + data_bytes));
  put_be(out, request.offset);
  return out;
}

std::vector<uint8_t> NbdSession::reply(const NbdRequest& request, Errno error,
                                       std::span<const uint8_t> data,
                                       std::string_view message) const {
  if (error == kOk && request.type == kCmdRead) {
    std::vector<uint8_t> out = read_reply_header(request, data.size());
    out.insert(out.end(), data.begin(), data.end());
    return out;
  }
  std::vector<uint8_t> out;
  if (!structured_) {
    put_be(out, kSimpleReplyMagic);
    put_be(out, static_cast<uint32_t>(error));
    put_be(out, request.cookie);
    return out;
  }
  put_be(out, kStructuredReplyMagic);
  put_be(out, kReplyFlagDone);
  if (error != kOk) {
    const size_t shown = std::min<size_t>(message.size(), 4096);
    put_be(out, kReplyTypeError);
    put_be(out, request.cookie);
    put_be(out, static_cast<uint32_t>(4 + 2 + shown));
    put_be(out, static_cast<uint32_t>(error));
    put_be(out, static_cast<uint16_t>(shown));
    out.insert(out.end(), message.begin(), message.begin() + static_cast<std::ptrdiff_t>(shown));
    return out;
  }
  put_be(out, kReplyTypeNone);
  put_be(out, request.cookie);
  put_be(out, uint32_t{0});
  return out;
}

}  // namespace ftvm::disk
