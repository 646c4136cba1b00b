#include "pair/pair_side.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <mutex>
#include <optional>
#include <thread>

#include "disk/etcd_arbiter.h"
#include "disk/writer_fence.h"
#include "logging_channel/endpoint_policy.h"

namespace ftvm {
namespace {

std::chrono::milliseconds ms(double value) {
  return std::chrono::milliseconds(static_cast<int64_t>(value));
}

}  // namespace

Result<DiskOptions> side_disk(const PairSideOptions& options, DiskOptions disk) {
  if (!options.fence_disk) return disk;
  if (!disk.source.starts_with("nbd://")) {
    return make_error("--fence-disk needs --disk nbd://HOST:PORT/EXPORT from ftvm disk-server");
  }
  if (disk::is_etcd_arbiter(options.arbiter)) {
    return make_error(
        "--fence-disk needs the disk server's arbiter: with etcd deciding, the disk server does "
        "not know the winner");
  }
  disk.writer_token =
      disk::format_writer_token({options.vm_id, options.generation, side_incarnation()});
  return disk;
}

channel::LinkTimeouts link_timeouts(const PairSideOptions& options) {
  return {ms(options.heartbeat_ms), ms(options.suspect_ms), ms(options.declare_ms)};
}

namespace {

// --key-file, read once per process: the channel and the arbiter use the same key, and a key
// file that is gone by the time a side must ask the arbiter would otherwise halt a side that
// could have gone live.
Result<const channel::FrameKey*> pair_key(const PairSideOptions& options) {
  static std::mutex mutex;
  static std::optional<channel::FrameKey> key;
  std::lock_guard lock(mutex);
  if (!key) {
    auto read = channel::FrameKey::from_file_or_none(options.key_file);
    if (!read) return read.error();
    key = std::move(*read);
  }
  return &*key;
}

}  // namespace

Result<channel::FrameKey> channel_key(const PairSideOptions& options,
                                      const channel::Endpoint& peer_or_listen,
                                      std::string_view option) {
  auto key = pair_key(options);
  if (!key) return key.error();
  if (auto r = channel::check_endpoint_allowed(peer_or_listen, **key, option); !r) {
    return r.error();
  }
  return **key;
}

Result<ChannelListener> open_channel_listener(const PairSideOptions& options,
                                              const std::string& listen, int listen_fd) {
  UniqueFd fd(listen_fd);
  if (!fd.valid()) {
    auto at = channel::Endpoint::parse(listen);
    if (!at) return make_error("--listen: " + at.error().message);
    auto listening = channel::listen_tcp(*at);
    if (!listening) return listening.error();
    fd = std::move(*listening);
  }
  auto at = channel::local_endpoint(fd.get());
  if (!at) return at.error();
  auto key = channel_key(options, *at, "--listen");
  if (!key) return key.error();
  return ChannelListener{std::move(fd), at->to_string(), std::move(*key)};
}

nlohmann::json side_status(const char* side, const char* role, const PairSideOptions& options,
                           std::chrono::steady_clock::time_point started) {
  nlohmann::json j;
  j["side"] = side;
  j["role"] = role;
  j["vm_id"] = options.vm_id;
  j["generation"] = options.generation;
  j["uptime_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return j;
}

Result<std::span<const uint8_t>> arbiter_key(const PairSideOptions& options) {
  auto key = pair_key(options);
  if (!key) return key.error();
  return (*key)->bytes();
}

// The arbiter's answer to "who won the VM's highest generation", from either backend.
Result<std::optional<disk::Winner>> query_arbiter(const PairSideOptions& options) {
  if (disk::is_etcd_arbiter(options.arbiter)) {
    auto members = disk::parse_etcd_members(options.arbiter);
    if (!members) return members.error();
    return disk::etcd_query(*members, options.vm_id, std::chrono::milliseconds(500));
  }
  auto key = arbiter_key(options);
  if (!key) return key.error();
  return disk::query(options.arbiter, *key, options.vm_id, std::chrono::seconds(1));
}

// One test-and-set attempt with either backend.
Result<disk::TasOutcome> claim_once(const PairSideOptions& options, const disk::TasClaim& claim) {
  if (disk::is_etcd_arbiter(options.arbiter)) {
    auto members = disk::parse_etcd_members(options.arbiter);
    if (!members) return members.error();
    return disk::etcd_test_and_set(*members, claim, std::chrono::milliseconds(500));
  }
  auto key = arbiter_key(options);
  if (!key) return key.error();
  return disk::test_and_set(options.arbiter, *key, claim, std::chrono::milliseconds(500));
}

Result<void> check_generation_undecided(const PairSideOptions& options, const char* side) {
  auto winner = query_arbiter(options);
  if (!winner) {
    log_role(side, fmt::format("cannot check VM {} generation {} with the arbiter now ({}); "
                               "starting anyway: it is needed only if a side is lost",
                               options.vm_id, options.generation, winner.error().message));
    return {};
  }
  if (*winner && (*winner)->generation >= options.generation) {
    return make_error(fmt::format(
        "VM {} generation {} is already decided: the arbiter at {} recorded the {} as the winner "
        "of generation {}, an earlier process. A pair started for it now could never fail over; "
        "start both sides with --generation {} (or another --vm-id)",
        options.vm_id, options.generation, options.arbiter, (*winner)->side, (*winner)->generation,
        (*winner)->generation + 1));
  }
  return {};
}

const std::string& side_incarnation() {
  static const std::string incarnation = disk::new_incarnation();
  return incarnation;
}

void log_role(const char* side, const std::string& what) {
  const auto now = std::chrono::system_clock::now();
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  fmt::print(stderr, "ftvm: [{:%Y-%m-%dT%H:%M:%S}.{:03d}Z] {}: {}\n",
             fmt::gmtime(std::chrono::system_clock::to_time_t(now)), millis, side, what);
}

Result<std::unique_ptr<ControlServer>> start_side_control(const PairSideOptions& options,
                                                          const char* side,
                                                          std::function<nlohmann::json()> status,
                                                          std::function<void()> cut,
                                                          ControlServer::Handlers more) {
  if (options.control_path.empty()) return std::unique_ptr<ControlServer>();
  more.emplace("status", [status](const std::string&) { return status().dump() + "\n"; });
  more.emplace("cut-channel", [side, cut](const std::string&) {
    cut();
    log_role(side, "channel cut (fault injection)");
    return std::string("channel cut\n");
  });
  return ControlServer::start(options.control_path, std::move(more));
}

Result<disk::TasOutcome> ask_arbiter(const PairSideOptions& options, const char* side) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(options.arbiter_timeout_s));
  const disk::TasClaim claim{options.vm_id, options.generation, side, side_incarnation()};
  Error last = make_error("no attempt");
  for (int attempt = 1;; ++attempt) {
    auto outcome = claim_once(options, claim);
    if (outcome) return outcome;
    last = outcome.error();
    if (attempt == 1) log_role(side, last.message + "; retrying");
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return make_error(fmt::format("{} (gave up after --arbiter-timeout {} s)", last.message,
                                options.arbiter_timeout_s));
}

}  // namespace ftvm
