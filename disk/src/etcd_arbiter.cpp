#include "disk/etcd_arbiter.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <memory>

namespace ftvm::disk {
namespace {

size_t append_body(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  constexpr size_t kMaxBody = 1 << 20;  // an answer is a few hundred bytes
  if (body->size() + size * count > kMaxBody) return 0;
  body->append(data, size * count);
  return size * count;
}

// One POST to one member; the body of a 200 answer.
Result<std::string> post(const std::string& member, const std::string& path,
                         const std::string& body, std::chrono::milliseconds timeout) {
  static const bool initialised = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  if (!initialised) return make_error("libcurl could not start");
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return make_error("libcurl could not make a handle");
  const std::string url = "http://" + member + path;
  std::string answer;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> header_list(headers, curl_slist_free_all);
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http");
  const CURLcode code = curl_easy_perform(curl.get());
  if (code != CURLE_OK) {
    return make_error(
        fmt::format("etcd member {} unreachable: {}", member, curl_easy_strerror(code)));
  }
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    return make_error(
        fmt::format("etcd member {} answered HTTP {}: {}", member, status, answer.substr(0, 200)));
  }
  return answer;
}

template <typename T, typename Parse>
Result<T> ask_members(const std::vector<std::string>& members, const std::string& path,
                      const std::string& body, std::chrono::milliseconds per_member, Parse parse) {
  // A member that fails, or answers something that is not etcd's answer, is no answer: the next
  // member is asked. That is safe for the test-and-set too, since a claim that member did
  // apply is found by the next as this side's own.
  std::string reasons;
  for (const std::string& member : members) {
    auto answer = post(member, path, body, per_member);
    Result<T> parsed = answer ? parse(*answer) : Result<T>(answer.error());
    if (parsed) return parsed;
    if (answer) {
      parsed = make_error(fmt::format("etcd member {}: {}", member, parsed.error().message));
    }
    reasons += (reasons.empty() ? "" : "; ") + parsed.error().message;
  }
  if (reasons.empty()) return make_error("no etcd member was named");
  return make_error(reasons);
}

}  // namespace

Result<TasOutcome> etcd_test_and_set(const std::vector<std::string>& members, const TasClaim& claim,
                                     std::chrono::milliseconds per_member) {
  return ask_members<TasOutcome>(
      members, "/v3/kv/txn", etcd_txn_body(claim), per_member,
      [&claim](const std::string& answer) { return parse_etcd_txn_response(answer, claim); });
}

Result<std::optional<Winner>> etcd_query(const std::vector<std::string>& members,
                                         const std::string& vm_id,
                                         std::chrono::milliseconds per_member) {
  return ask_members<std::optional<Winner>>(
      members, "/v3/kv/range", etcd_range_body(vm_id), per_member,
      [&vm_id](const std::string& answer) { return parse_etcd_range_response(answer, vm_id); });
}

}  // namespace ftvm::disk
