// Test-and-set latency of ftvm's two arbiter clients, each against a running arbiter: the disk
// server's (`--disk-server HOST:PORT`) and an etcd cluster's (`--etcd etcd://...`). Every
// request claims a fresh generation of one VM, as a failover does, with a new connection, as
// a side does. Prints one JSON object per backend: requests, median, p99 and max in ms.
// scripts/bench/arbiter runs it beside `etcdctl txn` for scale.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "disk/arbiter_client.h"
#include "disk/etcd_arbiter.h"

namespace {

using ftvm::Result;
using ftvm::disk::TasClaim;
using ftvm::disk::TasOutcome;
using Clock = std::chrono::steady_clock;

template <typename Ask>
int measure(const char* name, int requests, Ask ask) {
  std::vector<double> ms;
  const std::string vm = fmt::format("bench-{}-{}", name, Clock::now().time_since_epoch().count());
  for (int i = 1; i <= requests; ++i) {
    const TasClaim claim{vm, static_cast<uint64_t>(i), "backup", "00000000000000b1"};
    const auto started = Clock::now();
    const Result<TasOutcome> outcome = ask(claim);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - started).count());
    if (!outcome || !outcome->won) {
      std::fprintf(stderr, "arbiter_bench: %s: request %d: %s\n", name, i,
                   outcome ? "lost a fresh generation" : outcome.error().message.c_str());
      return 1;
    }
  }
  std::sort(ms.begin(), ms.end());
  const auto at = [&ms](double q) {
    return ms[std::min(ms.size() - 1, static_cast<size_t>(q * static_cast<double>(ms.size())))];
  };
  std::printf(
      "{\"backend\": \"%s\", \"requests\": %d, \"median_ms\": %.3f, \"p99_ms\": %.3f, "
      "\"max_ms\": %.3f}\n",
      name, requests, at(0.5), at(0.99), ms.back());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string disk_server;
  std::string etcd;
  int requests = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string option = argv[i];
    if (option == "--disk-server") {
      disk_server = argv[i + 1];
    } else if (option == "--etcd") {
      etcd = argv[i + 1];
    } else if (option == "--requests") {
      requests = std::max(1, std::atoi(argv[i + 1]));
    } else {
      std::fprintf(stderr, "arbiter_bench: unknown option %s\n", option.c_str());
      return 1;
    }
  }
  if (argc % 2 == 0 || (disk_server.empty() && etcd.empty())) {
    std::fprintf(stderr,
                 "usage: arbiter_bench [--disk-server HOST:PORT] [--etcd etcd://HOST:PORT,...] "
                 "[--requests N]\n");
    return 1;
  }
  int status = 0;
  if (!disk_server.empty()) {
    status |= measure("disk-server", requests, [&](const TasClaim& claim) {
      return ftvm::disk::test_and_set(disk_server, {}, claim, std::chrono::seconds(5));
    });
  }
  if (!etcd.empty()) {
    auto members = ftvm::disk::parse_etcd_members(etcd);
    if (!members) {
      std::fprintf(stderr, "arbiter_bench: %s\n", members.error().message.c_str());
      return 1;
    }
    status |= measure("etcd", requests, [&](const TasClaim& claim) {
      return ftvm::disk::etcd_test_and_set(*members, claim, std::chrono::milliseconds(500));
    });
  }
  return status;
}
