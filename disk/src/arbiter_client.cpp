#include "disk/arbiter_client.h"

#include <fmt/format.h>

#include <random>

#include "disk/line_auth.h"
#include "disk/names.h"
#include "disk/protocol.h"
#include "tcp_stream.h"

namespace ftvm::disk {
namespace {

// One request, one reply. ERR replies come back as errors too, so callers only see the
// replies their request can have.
// The reply inside a signed line, for a keyed side. An unsigned ERR passes as it is: a forged
// one can only make the side give up, as cutting the connection could.
Result<std::string> open_signed_reply(const std::string& address, std::span<const uint8_t> key,
                                      std::string_view request, const std::string& line) {
  if (key.empty() || line.starts_with("ERR ")) return line;
  auto reply = open_reply(key, request, line);
  if (!reply) {
    return make_error(fmt::format(
        "arbiter at {} answered, but {} (does the disk server have the same --key-file?)", address,
        reply.error().message));
  }
  return std::string(*reply);
}

std::string refusal_hint(std::span<const uint8_t> key) {
  return key.empty() ? std::string()
                     : " (this side signs its requests with its --key-file: does the disk server "
                       "have the same one?)";
}

Result<Reply> exchange(const std::string& address, std::span<const uint8_t> key,
                       const Request& request, std::chrono::milliseconds timeout) {
  const Deadline deadline = std::chrono::steady_clock::now() + timeout;
  auto unreachable = [&](const Error& error) {
    return make_error(fmt::format("arbiter unreachable at {}: {}", address, error.message));
  };
  auto fd = connect_tcp(address, deadline);
  if (!fd) return unreachable(fd.error());
  std::string asked = format_request(request);
  asked.pop_back();  // the '\n'
  const bool signing = !key.empty() && !std::holds_alternative<PingRequest>(request);
  const std::string line_out = (signing ? sign_request(key, asked) : asked) + "\n";
  if (auto r = send_all(fd->get(), line_out, deadline); !r) return unreachable(r.error());
  auto line = receive_line(fd->get(), kMaxLineBytes, deadline);
  if (!line) return unreachable(line.error());
  auto opened =
      open_signed_reply(address, signing ? key : std::span<const uint8_t>(), asked, *line);
  if (!opened) return opened.error();
  auto reply = parse_reply(*opened);
  if (!reply) {
    return make_error(
        fmt::format("arbiter at {} sent a malformed reply ({}); is that port an "
                    "ftvm disk-server?",
                    address, reply.error().message));
  }
  if (const auto* err = std::get_if<ErrReply>(&*reply)) {
    return make_error(
        fmt::format("arbiter at {} refused: {}{}", address, err->message, refusal_hint(key)));
  }
  return reply;
}

Error unexpected(const std::string& address, const Reply& reply) {
  std::string line = format_reply(reply);
  line.pop_back();
  return make_error(
      fmt::format("arbiter at {} answered '{}', which does not fit the request", address, line));
}

}  // namespace

std::string new_incarnation() {
  std::random_device random;  // the kernel's random source
  const uint64_t value = (uint64_t{random()} << 32) | random();
  return fmt::format("{:016x}", value);
}

Result<TasOutcome> test_and_set(const std::string& address, std::span<const uint8_t> key,
                                const TasClaim& claim, std::chrono::milliseconds timeout) {
  if (auto r = check_vm_id(claim.vm_id); !r) return r.error();
  if (auto r = check_side(claim.side); !r) return r.error();
  if (auto r = check_incarnation(claim.incarnation); !r) return r.error();
  auto reply =
      exchange(address, key,
               TasRequest{claim.vm_id, claim.generation, claim.side, claim.incarnation}, timeout);
  if (!reply) return reply.error();
  if (const auto* won = std::get_if<WonReply>(&*reply);
      won && won->generation == claim.generation) {
    return TasOutcome{true, claim.side, claim.generation};
  }
  if (const auto* lost = std::get_if<LostReply>(&*reply)) {
    return TasOutcome{false, lost->winner, lost->generation};
  }
  return unexpected(address, *reply);
}

Result<std::optional<Winner>> query(const std::string& address, std::span<const uint8_t> key,
                                    const std::string& vm_id, std::chrono::milliseconds timeout) {
  if (auto r = check_vm_id(vm_id); !r) return r.error();
  auto reply = exchange(address, key, QueryRequest{vm_id}, timeout);
  if (!reply) return reply.error();
  if (const auto* winner = std::get_if<WinnerReply>(&*reply)) {
    return std::optional<Winner>(Winner{winner->side, winner->generation, ""});
  }
  if (std::holds_alternative<NoneReply>(*reply)) return std::optional<Winner>();
  return unexpected(address, *reply);
}

Result<void> ping(const std::string& address, std::chrono::milliseconds timeout) {
  auto reply = exchange(address, {}, PingRequest{}, timeout);
  if (!reply) return reply.error();
  if (std::holds_alternative<PongReply>(*reply)) return {};
  return unexpected(address, *reply);
}

}  // namespace ftvm::disk
