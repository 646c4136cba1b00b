#include "disk/line_auth.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstdio>
#include <cstdlib>

namespace ftvm::disk {
namespace {

// Distinct prefixes: a request's MAC can never pass as a reply's, nor as a channel frame's
// (those start with the frame magic "FTLC").
constexpr std::string_view kRequestLabel = "ftvm arbiter request\n";
constexpr std::string_view kReplyLabel = "ftvm arbiter reply\n";

std::string mac_hex(std::span<const uint8_t> key, std::string_view covered) {
  std::array<uint8_t, 32> mac{};
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const uint8_t*>(covered.data()), covered.size(), mac.data(),
           &length) == nullptr ||
      length != mac.size()) {
    std::fprintf(stderr, "ftvm: OpenSSL failed to compute HMAC-SHA256\n");
    std::abort();
  }
  std::string hex;
  for (const uint8_t byte : mac) hex += fmt::format("{:02x}", byte);
  return hex;
}

struct Split {
  std::string_view body;
  std::string_view mac;
};

Result<Split> split_mac(std::string_view line, std::string_view what) {
  const size_t space = line.rfind(' ');
  if (space == std::string_view::npos || line.size() - space - 1 != kLineMacHexBytes) {
    return make_error(
        fmt::format("{} is not signed (it must end in a {}-digit HMAC)", what, kLineMacHexBytes));
  }
  return Split{line.substr(0, space), line.substr(space + 1)};
}

Result<void> check_mac(std::string_view expected, std::string_view got, std::string_view what) {
  if (expected.size() == got.size() &&
      CRYPTO_memcmp(expected.data(), got.data(), expected.size()) == 0) {
    return {};
  }
  return make_error(fmt::format("{} has a wrong signature: another --key-file, or forged", what));
}

}  // namespace

std::string sign_request(std::span<const uint8_t> key, std::string_view request) {
  return fmt::format("{} {}", request,
                     mac_hex(key, std::string(kRequestLabel) + std::string(request)));
}

Result<std::string_view> open_request(std::span<const uint8_t> key, std::string_view line) {
  auto split = split_mac(line, "the request");
  if (!split) return split.error();
  const std::string expected = mac_hex(key, std::string(kRequestLabel) + std::string(split->body));
  if (auto ok = check_mac(expected, split->mac, "the request"); !ok) return ok.error();
  return split->body;
}

std::string sign_reply(std::span<const uint8_t> key, std::string_view request,
                       std::string_view reply) {
  const std::string covered = fmt::format("{}{}\n{}", kReplyLabel, request, reply);
  return fmt::format("{} {}", reply, mac_hex(key, covered));
}

Result<std::string_view> open_reply(std::span<const uint8_t> key, std::string_view request,
                                    std::string_view line) {
  auto split = split_mac(line, "the reply");
  if (!split) return split.error();
  const std::string covered = fmt::format("{}{}\n{}", kReplyLabel, request, split->body);
  if (auto ok = check_mac(mac_hex(key, covered), split->mac, "the reply"); !ok) return ok.error();
  return split->body;
}

}  // namespace ftvm::disk
