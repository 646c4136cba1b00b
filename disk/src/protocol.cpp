#include "disk/protocol.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <vector>

#include "disk/names.h"

namespace ftvm::disk {
namespace {

// Room for "ERR " and '\n' in a maximal line.
constexpr size_t kMaxErrMessageBytes = kMaxLineBytes - 5;

bool is_printable(char c) {
  return c >= 0x20 && c <= 0x7e;
}

// Canonical words only (single spaces, none leading or trailing), so that every line that
// parses re-encodes to the same bytes.
Result<std::vector<std::string_view>> split_words(std::string_view line) {
  if (line.size() >= kMaxLineBytes) {
    return make_error(fmt::format("line too long ({} bytes; the limit is {} with its newline)",
                                  line.size(), kMaxLineBytes));
  }
  if (!std::all_of(line.begin(), line.end(), is_printable)) {
    return make_error("line holds a control or non-ASCII byte; send printable ASCII only");
  }
  std::vector<std::string_view> words;
  size_t start = 0;
  for (;;) {
    const size_t space = line.find(' ', start);
    const std::string_view word = line.substr(start, space - start);
    if (word.empty()) {
      return make_error("empty word: separate words with exactly one space, none at the ends");
    }
    words.push_back(word);
    if (space == std::string_view::npos) return words;
    start = space + 1;
  }
}

Result<uint64_t> parse_generation(std::string_view text) {
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  const bool leading_zero = text.size() > 1 && text[0] == '0';
  if (ec != std::errc() || end != text.data() + text.size() || leading_zero) {
    return make_error(
        fmt::format("invalid generation '{}': expected a decimal from 0 to 18446744073709551615 "
                    "without leading zeros",
                    text));
  }
  return value;
}

Result<void> expect_words(const std::vector<std::string_view>& words, size_t count,
                          std::string_view usage) {
  if (words.size() == count) return {};
  return make_error(fmt::format("{} takes {} word(s) after it: {}", words[0], count - 1, usage));
}

Result<Request> parse_tas(const std::vector<std::string_view>& words) {
  if (auto r = expect_words(words, 5, "TAS <vm-id> <generation> <side> <incarnation>"); !r) {
    return r.error();
  }
  if (auto r = check_vm_id(words[1]); !r) return r.error();
  auto generation = parse_generation(words[2]);
  if (!generation) return generation.error();
  if (auto r = check_side(words[3]); !r) return r.error();
  if (auto r = check_incarnation(words[4]); !r) return r.error();
  return Request{
      TasRequest{std::string(words[1]), *generation, std::string(words[3]), std::string(words[4])}};
}

Result<Request> parse_query(const std::vector<std::string_view>& words) {
  if (auto r = expect_words(words, 2, "QUERY <vm-id>"); !r) return r.error();
  if (auto r = check_vm_id(words[1]); !r) return r.error();
  return Request{QueryRequest{std::string(words[1])}};
}

// "<side> <generation>" after a reply's keyword, as in LOST and WINNER.
Result<std::pair<std::string, uint64_t>> parse_side_generation(
    const std::vector<std::string_view>& words) {
  if (words.size() != 3)
    return make_error(fmt::format("{} takes a side and a generation", words[0]));
  if (auto r = check_side(words[1]); !r) return r.error();
  auto generation = parse_generation(words[2]);
  if (!generation) return generation.error();
  return std::pair{std::string(words[1]), *generation};
}

Result<Reply> parse_word_reply(const std::vector<std::string_view>& words) {
  const std::string_view keyword = words[0];
  if (keyword == "WON") {
    if (words.size() != 2) return make_error("WON takes one generation");
    auto generation = parse_generation(words[1]);
    if (!generation) return generation.error();
    return Reply{WonReply{*generation}};
  }
  if (keyword == "LOST" || keyword == "WINNER") {
    auto pair = parse_side_generation(words);
    if (!pair) return pair.error();
    if (keyword == "LOST") return Reply{LostReply{pair->first, pair->second}};
    return Reply{WinnerReply{pair->first, pair->second}};
  }
  if (words.size() == 1 && keyword == "NONE") return Reply{NoneReply{}};
  if (words.size() == 1 && keyword == "PONG") return Reply{PongReply{}};
  return make_error(fmt::format("unknown reply '{}'", keyword.substr(0, 16)));
}

std::string sanitized_message(std::string_view message) {
  std::string out;
  for (char c : message.substr(0, kMaxErrMessageBytes)) out += is_printable(c) ? c : '?';
  return out.empty() ? "error" : out;
}

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;  // clang before 17 lacks aggregate deduction

}  // namespace

Result<Request> parse_request(std::string_view line) {
  auto words = split_words(line);
  if (!words) return words.error();
  const std::string_view keyword = (*words)[0];
  if (keyword == "TAS") return parse_tas(*words);
  if (keyword == "QUERY") return parse_query(*words);
  if (keyword == "PING") {
    if (auto r = expect_words(*words, 1, "PING"); !r) return r.error();
    return Request{PingRequest{}};
  }
  return make_error(fmt::format("unknown request '{}': use TAS, QUERY or PING",
                                sanitized_message(keyword.substr(0, 16))));
}

Result<Reply> parse_reply(std::string_view line) {
  if (line.starts_with("ERR ")) {
    const std::string_view message = line.substr(4);
    if (message.empty() || message.size() > kMaxErrMessageBytes ||
        !std::all_of(message.begin(), message.end(), is_printable)) {
      return make_error("malformed ERR reply");
    }
    return Reply{ErrReply{std::string(message)}};
  }
  auto words = split_words(line);
  if (!words) return words.error();
  return parse_word_reply(*words);
}

std::string format_request(const Request& request) {
  return std::visit(Overloaded{
                        [](const TasRequest& r) {
                          return fmt::format("TAS {} {} {} {}\n", r.vm_id, r.generation, r.side,
                                             r.incarnation);
                        },
                        [](const QueryRequest& r) { return fmt::format("QUERY {}\n", r.vm_id); },
                        [](const PingRequest&) { return std::string("PING\n"); },
                    },
                    request);
}

std::string format_reply(const Reply& reply) {
  return std::visit(
      Overloaded{
          [](const WonReply& r) { return fmt::format("WON {}\n", r.generation); },
          [](const LostReply& r) { return fmt::format("LOST {} {}\n", r.winner, r.generation); },
          [](const WinnerReply& r) { return fmt::format("WINNER {} {}\n", r.side, r.generation); },
          [](const NoneReply&) { return std::string("NONE\n"); },
          [](const PongReply&) { return std::string("PONG\n"); },
          [](const ErrReply& r) { return fmt::format("ERR {}\n", sanitized_message(r.message)); },
      },
      reply);
}

}  // namespace ftvm::disk
