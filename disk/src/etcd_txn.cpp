#include <fmt/format.h>
#include <openssl/evp.h>

#include <charconv>
#include <nlohmann/json.hpp>

#include "disk/etcd_arbiter.h"

namespace ftvm::disk {
namespace {

using nlohmann::json;

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> unbase64(std::string_view text) {
  if (text.size() % 4 != 0) return make_error("a base64 field of the wrong length");
  std::string out(3 * text.size() / 4, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return make_error("a base64 field that does not decode");
  size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') ++padding;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

// The key that sorts right after every key with `prefix` (etcd's range_end for a prefix).
std::string prefix_end(std::string prefix) {
  prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

std::string vm_prefix(const std::string& vm_id) {
  return "ftvm/" + vm_id + "/";
}

Result<json> parse_body(std::string_view body) {
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return make_error("etcd's answer is not a JSON object");
  }
  return parsed;
}

// The value and key of the first kv of a range response, or nullopt when it found none.
struct Kv {
  std::string key;
  std::string value;
};
Result<std::vector<Kv>> range_kvs(const json& range) {
  std::vector<Kv> kvs;
  if (!range.is_object() || !range.contains("kvs")) return kvs;
  const json& list = range["kvs"];
  if (!list.is_array()) return make_error("etcd's range answer has kvs that are not a list");
  for (const json& kv : list) {
    if (!kv.is_object() || !kv.contains("key") || !kv["key"].is_string()) {
      return make_error("etcd's range answer has a kv without a key");
    }
    auto key = unbase64(kv["key"].get<std::string>());
    if (!key) return key.error();
    std::string value;
    if (kv.contains("value")) {
      if (!kv["value"].is_string()) return make_error("etcd's range answer has a bad value");
      auto decoded = unbase64(kv["value"].get<std::string>());
      if (!decoded) return decoded.error();
      value = std::move(*decoded);
    }
    kvs.push_back({std::move(*key), std::move(value)});
  }
  return kvs;
}

// "<side> <incarnation>" as a claim value.
std::pair<std::string, std::string> split_value(const std::string& value) {
  const size_t space = value.find(' ');
  if (space == std::string::npos) return {value, ""};
  return {value.substr(0, space), value.substr(space + 1)};
}

}  // namespace

bool is_etcd_arbiter(std::string_view arbiter) {
  return arbiter.starts_with(kEtcdScheme);
}

Result<std::vector<std::string>> parse_etcd_members(std::string_view arbiter) {
  if (!is_etcd_arbiter(arbiter)) {
    return make_error(fmt::format("'{}' is not an etcd arbiter (etcd://HOST:PORT[,...])", arbiter));
  }
  std::vector<std::string> members;
  std::string_view rest = arbiter.substr(kEtcdScheme.size());
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    std::string_view member = rest.substr(0, comma);
    const size_t colon = member.rfind(':');
    uint16_t port = 0;
    if (colon == std::string_view::npos || colon == 0 ||
        std::from_chars(member.data() + colon + 1, member.data() + member.size(), port).ec !=
            std::errc() ||
        port == 0) {
      return make_error(fmt::format("etcd member '{}' is not HOST:PORT", member));
    }
    members.emplace_back(member);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (members.empty()) return make_error("etcd://: name at least one member, HOST:PORT");
  return members;
}

std::string etcd_claim_key(const std::string& vm_id, uint64_t generation) {
  return fmt::format("{}{}", vm_prefix(vm_id), generation);
}

std::string etcd_claim_value(const TasClaim& claim) {
  return claim.side + " " + claim.incarnation;
}

std::string etcd_txn_body(const TasClaim& claim) {
  const std::string key = base64(etcd_claim_key(claim.vm_id, claim.generation));
  json body = {
      {"compare",
       {{{"key", key}, {"result", "EQUAL"}, {"target", "CREATE"}, {"create_revision", "0"}}}},
      {"success", {{{"request_put", {{"key", key}, {"value", base64(etcd_claim_value(claim))}}}}}},
      {"failure", {{{"request_range", {{"key", key}}}}}}};
  return body.dump();
}

Result<TasOutcome> parse_etcd_txn_response(std::string_view body, const TasClaim& claim) {
  auto parsed = parse_body(body);
  if (!parsed) return parsed.error();
  // etcd 3.4's gateway leaves out fields that are false or empty: a lost transaction has no
  // "succeeded" at all.
  if (parsed->contains("succeeded")) {
    const json& succeeded = (*parsed)["succeeded"];
    if (!succeeded.is_boolean()) return make_error("etcd's answer has a bad 'succeeded'");
    if (succeeded.get<bool>()) return TasOutcome{true, claim.side, claim.generation};
  }
  if (!parsed->contains("responses") || !(*parsed)["responses"].is_array() ||
      (*parsed)["responses"].empty()) {
    return make_error("etcd's answer to a lost transaction does not say who holds the key");
  }
  const json& first = (*parsed)["responses"][0];
  if (!first.is_object() || !first.contains("response_range")) {
    return make_error("etcd's answer to a lost transaction holds no range");
  }
  auto kvs = range_kvs(first["response_range"]);
  if (!kvs) return kvs.error();
  if (kvs->empty()) return make_error("etcd says the key exists but returned no value for it");
  const std::string& value = kvs->front().value;
  // A timed-out earlier attempt of this same process may have been applied.
  if (value == etcd_claim_value(claim)) return TasOutcome{true, claim.side, claim.generation};
  return TasOutcome{false, split_value(value).first, claim.generation};
}

std::string etcd_range_body(const std::string& vm_id) {
  const std::string prefix = vm_prefix(vm_id);
  return json{{"key", base64(prefix)}, {"range_end", base64(prefix_end(prefix))}}.dump();
}

Result<std::optional<Winner>> parse_etcd_range_response(std::string_view body,
                                                        const std::string& vm_id) {
  auto parsed = parse_body(body);
  if (!parsed) return parsed.error();
  auto kvs = range_kvs(*parsed);
  if (!kvs) return kvs.error();
  std::optional<Winner> highest;
  const std::string prefix = vm_prefix(vm_id);
  for (const Kv& kv : *kvs) {
    if (!kv.key.starts_with(prefix)) continue;
    uint64_t generation = 0;
    const std::string_view digits = std::string_view(kv.key).substr(prefix.size());
    if (std::from_chars(digits.data(), digits.data() + digits.size(), generation).ec !=
        std::errc()) {
      continue;  // not one of ours
    }
    if (!highest || generation > highest->generation) {
      auto [side, incarnation] = split_value(kv.value);
      highest = Winner{side, generation, incarnation};
    }
  }
  return highest;
}

}  // namespace ftvm::disk
