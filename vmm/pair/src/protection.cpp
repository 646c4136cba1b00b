#include "pair/protection.h"

#include <fmt/format.h>

#include "logging_channel/messages.h"
#include "machine/exit_codes.h"

namespace ftvm {

const char* protection_role_name(ProtectionRole role) {
  switch (role) {
    case ProtectionRole::kProtected:
      return "primary";
    case ProtectionRole::kDeciding:
      return "primary (backup lost, asking the arbiter)";
    case ProtectionRole::kUnprotected:
      return "primary (unprotected)";
    case ProtectionRole::kJoining:
      return "primary (unprotected, a backup is joining)";
    case ProtectionRole::kHalted:
      return "halted";
  }
  return "?";
}

Protection::Protection(const PairSideOptions& pair, const char* side, GuardedOutputs outputs,
                       EventQueue& events, ProtectionRole role)
    : pair_(pair),
      side_(side),
      outputs_(std::move(outputs)),
      events_(events),
      role_(role),
      generation_(pair.generation) {}

PairSideOptions Protection::current_pair() const {
  PairSideOptions pair = pair_;
  pair.generation = generation_.load();
  return pair;
}

void Protection::halt(int exit_code, const std::string& why, const std::string& stop_reason) {
  outputs_.gate.discard();
  for (channel::HeldOutput* output : outputs_.held) output->discard();
  role_.store(ProtectionRole::kHalted);
  exit_code_.store(exit_code);
  log_role(side_, why);
  events_.request_stop(stop_reason);
}

void Protection::backup_lost(const std::string& reason) {
  if (reason.find(channel::kDivergedGoodbye) != std::string::npos) backups_diverged_++;
  role_.store(ProtectionRole::kDeciding);
  const PairSideOptions pair = current_pair();
  log_role(side_, fmt::format("backup lost ({}); asking the arbiter at {} (generation {})", reason,
                              pair.arbiter, pair.generation));
  auto outcome = ask_arbiter(pair, side_);
  if (!outcome) {
    return halt(kExitNoArbiter,
                outcome.error().message +
                    "; halting: a side that cannot reach the arbiter never runs alone",
                "halted: the arbiter is unreachable");
  }
  if (!outcome->won) {
    return halt(kExitLostArbiter,
                fmt::format("LOST the arbiter to the {}, which is live; halting", outcome->winner),
                "halted: lost the arbiter's test-and-set");
  }
  outputs_.gate.open();
  for (channel::HeldOutput* output : outputs_.held) output->open();
  role_.store(ProtectionRole::kUnprotected);
  log_role(side_, "WON the arbiter: running on, unprotected");
}

void Protection::cut_link() {
  if (channel::PrimaryLink* link = outputs_.log.link()) link->cut();
}

void Protection::end(const std::string& detail) {
  if (channel::PrimaryLink* link = outputs_.log.link()) {
    if (link->lost()) {
      link->stop();
    } else {
      link->goodbye(detail);
    }
  }
  if (const uint64_t held = outputs_.gate.held_bytes(); held > 0) {
    fmt::print(stderr,
               "ftvm: {} bytes of guest output were never acknowledged by a backup and "
               "stay withheld\n",
               held);
    outputs_.gate.discard();
  }
}

std::optional<std::string> Protection::join_refusal(uint64_t generation) const {
  switch (role_.load()) {
    case ProtectionRole::kUnprotected:
      break;
    case ProtectionRole::kProtected:
      return "this primary has a backup; a backup joins only an unprotected one";
    case ProtectionRole::kJoining:
      return "another backup is joining this primary";
    case ProtectionRole::kDeciding:
    case ProtectionRole::kHalted:
      return fmt::format("this primary is {}", protection_role_name(role_.load()));
  }
  PairSideOptions next = current_pair();
  next.generation = generation;
  if (auto undecided = check_generation_undecided(next, side_); !undecided) {
    return undecided.error().message;
  }
  return std::nullopt;
}

bool Protection::begin_join() {
  ProtectionRole unprotected = ProtectionRole::kUnprotected;
  if (!role_.compare_exchange_strong(unprotected, ProtectionRole::kJoining)) return false;
  transfer_round_.store(0);
  transfer_pages_.store(0);
  return true;
}

void Protection::transfer_progress(uint32_t round, uint64_t pages) {
  transfer_round_.store(round);
  transfer_pages_.fetch_add(pages);
}

void Protection::add_status(nlohmann::json& j) const {
  j["backups_joined"] = joins_.load();
  j["backups_diverged"] = backups_diverged_.load();
  if (role_.load() == ProtectionRole::kJoining) {
    j["transfer"] = {{"round", transfer_round_.load()},
                     {"pages_sent", transfer_pages_.load()},
                     {"guest_pages", guest_pages_}};
  }
  const channel::PrimaryLink* link = outputs_.log.link();
  const auto lag = outputs_.lag.lag_summary();
  const auto hold = outputs_.gate.hold_latency();
  const auto beyond = outputs_.gate.hold_beyond_round_trip();
  j["lag"] = {{"ms", std::chrono::duration<double, std::milli>(outputs_.lag.lag_time()).count()},
              {"exits", outputs_.lag.lag_exits()},
              {"p50_ms", lag.p50_ms},
              {"p99_ms", lag.p99_ms},
              {"max_ms", lag.max_ms},
              {"caught_up_after_ms", nullptr}};
  // Once the backup has caught up with the guest's start: the lag while it follows.
  if (const auto catch_up = outputs_.lag.catch_up_time()) {
    const auto steady = outputs_.lag.steady_lag_summary();
    j["lag"]["caught_up_after_ms"] = std::chrono::duration<double, std::milli>(*catch_up).count();
    j["lag"]["steady"] = {
        {"p50_ms", steady.p50_ms}, {"p99_ms", steady.p99_ms}, {"max_ms", steady.max_ms}};
  }
  j["outputs"] = {{"held_bytes", outputs_.gate.held_bytes()},
                  {"released_bytes", outputs_.gate.released_bytes()},
                  {"delivered_bytes", outputs_.writer.delivered_bytes()},
                  {"console_backlog_bytes", outputs_.writer.backlog_bytes()},
                  {"discarded_bytes", outputs_.gate.discarded_bytes()},
                  {"hold_p50_ms", hold.p50_ms},
                  {"hold_p99_ms", hold.p99_ms},
                  {"hold_max_ms", hold.max_ms},
                  {"hold_beyond_round_trip_p50_ms", beyond.p50_ms},
                  {"hold_beyond_round_trip_p99_ms", beyond.p99_ms}};
  if (link == nullptr) {
    j["peer"] = "none";
    return;
  }
  const auto stats = link->stats();
  j["peer"] = stats.peer_state;
  j["log"] = {{"entries", stats.entries},
              {"chunks", stats.chunks},
              {"frames", stats.frames},
              {"bytes_sent", stats.bytes_sent},
              {"acked_lsn", stats.acked_lsn},
              {"replayed_lsn", stats.replayed_lsn},
              {"backpressure_waits", stats.backpressure_waits},
              {"link_thread_nice", stats.link_thread_nice}};
  j["round_trip"] = {{"p50_ms", stats.round_trip.p50_ms}, {"p99_ms", stats.round_trip.p99_ms}};
  // What --async auto weighs breakpoint against checkpoint with (0: not measured yet).
  j["backup_replay_costs"] = {{"breakpoint_hit_us", stats.backup_breakpoint_hit_us},
                              {"checkpoint_load_us", stats.backup_checkpoint_load_us}};
}

}  // namespace ftvm
