#include "disk/arbiter_state.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>

#include "disk/protocol.h"

namespace ftvm::disk {
namespace {

constexpr std::string_view kHeader = "ftvm-arbiter-state 2\n";
constexpr std::string_view kHeaderVersion1 = "ftvm-arbiter-state 1\n";
constexpr std::string_view kChecksumPrefix = "checksum ";
// Stands in for a missing incarnation while a "vm" line goes through the TAS parser.
constexpr std::string_view kNoIncarnation = "00000000";

std::string checksum_line(std::string_view body) {
  return fmt::format("{}{:016x}\n", kChecksumPrefix, XXH3_64bits(body.data(), body.size()));
}

// A "vm" line has the shape of a TAS request, so it reuses that parser's checks of names,
// generations and spacing. A win without an incarnation (version 1, or a v2 line without one)
// is read with a placeholder that no process can send, so no process can win it again.
Result<TasRequest> parse_vm_line(std::string_view line) {
  if (!line.starts_with("vm ")) {
    return make_error("expected 'vm <vm-id> <generation> <side> [<incarnation>]'");
  }
  const std::string_view rest = line.substr(3);
  const bool has_incarnation = std::count(rest.begin(), rest.end(), ' ') == 3;
  auto request = parse_request(
      fmt::format("TAS {}{}", rest, has_incarnation ? "" : " " + std::string(kNoIncarnation)));
  if (request && !has_incarnation) std::get<TasRequest>(*request).incarnation.clear();
  if (!request) return request.error();
  return std::get<TasRequest>(*request);
}

Error corrupt(size_t line_number, std::string_view what) {
  return make_error(fmt::format("line {}: {}", line_number, what));
}

}  // namespace

std::string encode_state(const ArbiterState& state) {
  std::string body(kHeader);
  for (const auto& [vm_id, winner] : state) {
    body += fmt::format("vm {} {} {}{}{}\n", vm_id, winner.generation, winner.side,
                        winner.incarnation.empty() ? "" : " ", winner.incarnation);
  }
  return body + checksum_line(body);
}

Result<ArbiterState> decode_state(std::string_view text) {
  const bool version1 = text.starts_with(kHeaderVersion1);
  if (!text.starts_with(kHeader) && !version1) {
    return corrupt(1, "not an ftvm arbiter state file (version 2 or 1 header missing)");
  }
  const size_t checksum_at = text.rfind(kChecksumPrefix);
  if (checksum_at == std::string_view::npos || text.back() != '\n' ||
      (checksum_at > 0 && text[checksum_at - 1] != '\n')) {
    return make_error("the checksum line is missing: the file is truncated");
  }
  const std::string_view body = text.substr(0, checksum_at);
  if (text.substr(checksum_at) != checksum_line(body)) {
    return make_error("checksum mismatch: the file was damaged or edited by hand");
  }
  ArbiterState state;
  size_t line_number = 1;
  for (size_t at = kHeader.size(); at < body.size();) {
    ++line_number;
    const size_t newline = body.find('\n', at);
    auto entry = parse_vm_line(body.substr(at, newline - at));
    if (!entry) return corrupt(line_number, entry.error().message);
    if (version1 && !entry->incarnation.empty()) {
      return corrupt(line_number, "a version 1 file holds no incarnations");
    }
    const Winner winner{entry->side, entry->generation, entry->incarnation};
    if (!state.emplace(entry->vm_id, winner).second) {
      return corrupt(line_number, fmt::format("VM '{}' appears twice", entry->vm_id));
    }
    at = newline + 1;
  }
  return state;
}

}  // namespace ftvm::disk
