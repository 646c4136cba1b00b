// What `ftvm primary` and `ftvm backup` share: the pair's identity at the arbiter, the
// channel's key and timeouts, the control socket, and how a side asks the arbiter whether it
// may run alone.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "disk/arbiter_client.h"
#include "logging_channel/frame_key.h"
#include "logging_channel/peer_monitor.h"
#include "logging_channel/tcp.h"
#include "machine/live_disk.h"
#include "pair/control_server.h"
#include "vmm/result.h"

namespace ftvm {

struct PairSideOptions {
  std::string vm_id = "testsvc";
  uint64_t generation = 1;
  std::string arbiter = "127.0.0.1:7300";
  std::string key_file;
  std::string control_path;
  double heartbeat_ms = 10;
  double suspect_ms = 50;
  double declare_ms = 200;
  double arbiter_timeout_s = 5;
  bool fence_disk = false;
};

channel::LinkTimeouts link_timeouts(const PairSideOptions& options);

// The channel's key: from --key-file, or none; without one only loopback peers are allowed,
// because nothing would stop anyone else from feeding the backup a log.
Result<channel::FrameKey> channel_key(const PairSideOptions& options,
                                      const channel::Endpoint& peer_or_listen,
                                      std::string_view option);

// Where a side takes its peers on the logging channel (a primary its backup, any live side its
// joining backups): `listen` (HOST:PORT) or the inherited socket `listen_fd` (>= 0), with the
// key they authenticate with there.
struct ChannelListener {
  UniqueFd fd;
  std::string address;
  channel::FrameKey key;
};
Result<ChannelListener> open_channel_listener(const PairSideOptions& options,
                                              const std::string& listen, int listen_fd);

// The side's control socket (none without --control): "status" answers with `status()`,
// "cut-channel" calls `cut()`, the fault-injection partition; `more` adds a side's own.
Result<std::unique_ptr<ControlServer>> start_side_control(const PairSideOptions& options,
                                                          const char* side,
                                                          std::function<nlohmann::json()> status,
                                                          std::function<void()> cut,
                                                          ControlServer::Handlers more = {});

// The fields every side's status starts with: side, role, vm_id, generation, uptime_s.
nlohmann::json side_status(const char* side, const char* role, const PairSideOptions& options,
                           std::chrono::steady_clock::time_point started);

// Prints a timestamped line about this side's role ("backup: WON the arbiter: going live").
void log_role(const char* side, const std::string& what);

// The key the side signs its arbiter requests with (--key-file, line_auth.h); empty without
// one. Read once per process.
Result<std::span<const uint8_t>> arbiter_key(const PairSideOptions& options);

// Asks the arbiter for the right to run alone, retrying an unreachable arbiter until
// --arbiter-timeout. An error means no answer: the caller must not go (or stay) live.
Result<disk::TasOutcome> ask_arbiter(const PairSideOptions& options, const char* side);
// Refuses a (VM, generation) the arbiter has already decided: a side started for it could never
// win a failover, since the win belongs to a process that is gone (docs/arbiter.md,
// "Incarnations"). An arbiter that does not answer now is no reason not to start: it is needed
// only when a side is lost, and the side says so.
Result<void> check_generation_undecided(const PairSideOptions& options, const char* side);
// This process, to the arbiter: a win is held by one process of a side, not by any process
// that calls itself "primary" or "backup" (docs/arbiter.md, "Incarnations").
const std::string& side_incarnation();

// The side's --disk with --fence-disk applied: the NBD export name then carries this process's
// writer token, so that the disk server beside the arbiter refuses its changes once another
// process won (disk/writer_fence.h).
Result<DiskOptions> side_disk(const PairSideOptions& options, DiskOptions disk);

}  // namespace ftvm
