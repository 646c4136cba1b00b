#include <fmt/format.h>

#include <charconv>

#include "disk/names.h"
#include "disk/writer_fence.h"

namespace ftvm::disk {

Result<WriterToken> parse_writer_token(std::string_view text) {
  const size_t first = text.find('/');
  const size_t second = first == std::string_view::npos ? first : text.find('/', first + 1);
  if (second == std::string_view::npos) {
    return make_error("a writer token is VM/GENERATION/INCARNATION");
  }
  WriterToken token;
  token.vm_id = std::string(text.substr(0, first));
  if (auto r = check_vm_id(token.vm_id); !r) return r.error();
  const std::string_view generation = text.substr(first + 1, second - first - 1);
  const auto [end, error] =
      std::from_chars(generation.data(), generation.data() + generation.size(), token.generation);
  if (generation.empty() || error != std::errc() || end != generation.data() + generation.size() ||
      token.generation == 0) {
    return make_error("a writer token's generation is a positive decimal number");
  }
  token.incarnation = std::string(text.substr(second + 1));
  if (auto r = check_incarnation(token.incarnation); !r) return r.error();
  return token;
}

std::string format_writer_token(const WriterToken& token) {
  return fmt::format("{}/{}/{}", token.vm_id, token.generation, token.incarnation);
}

}  // namespace ftvm::disk
