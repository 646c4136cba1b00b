// The arbiter on an etcd v3 cluster (docs/arbiter.md, "etcd"), for pairs that must not depend on
// one disk server. The same rules as the disk server's test-and-set: one winner per VM and
// generation, the winner is one side incarnation, and a side that gets no answer never goes
// live.
//
// The test-and-set is one transaction through etcd's JSON gateway (POST /v3/kv/txn, HTTP/1.1):
// create `ftvm/<vm>/<generation>` with "<side> <incarnation>" if its create_revision is 0, and
// otherwise read it. A request may time out after etcd applied it (a leader change), so a key
// that already holds this side's own value counts as a win. Each member gets a short timeout and
// the next member is tried, so a dead or partitioned member costs one timeout, not the arbiter.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "disk/arbiter_client.h"
#include "vmm/result.h"

namespace ftvm::disk {

inline constexpr std::string_view kEtcdScheme = "etcd://";

bool is_etcd_arbiter(std::string_view arbiter);

// "etcd://HOST:PORT[,HOST:PORT...]": the members' client addresses.
Result<std::vector<std::string>> parse_etcd_members(std::string_view arbiter);

// The key and value a claim writes.
std::string etcd_claim_key(const std::string& vm_id, uint64_t generation);
std::string etcd_claim_value(const TasClaim& claim);

// The transaction's JSON body, and the outcome read from a response body (untrusted bytes: a
// malformed body is an error, never a win).
std::string etcd_txn_body(const TasClaim& claim);
Result<TasOutcome> parse_etcd_txn_response(std::string_view body, const TasClaim& claim);

// The highest generation of `vm_id` decided in etcd (a range over its prefix), from a range
// response body.
std::string etcd_range_body(const std::string& vm_id);
Result<std::optional<Winner>> parse_etcd_range_response(std::string_view body,
                                                        const std::string& vm_id);

// One attempt over the members in turn, each bounded by `per_member`.
Result<TasOutcome> etcd_test_and_set(const std::vector<std::string>& members, const TasClaim& claim,
                                     std::chrono::milliseconds per_member);
Result<std::optional<Winner>> etcd_query(const std::vector<std::string>& members,
                                         const std::string& vm_id,
                                         std::chrono::milliseconds per_member);

}  // namespace ftvm::disk
