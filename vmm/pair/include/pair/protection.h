// Whether a guest that runs for the world is protected now, and what happens when its backup is
// lost: the arbiter decides, under the pair's generation, whether the guest runs on alone or
// this side halts (docs/failover.md). A primary starts protected; a backup that went live
// starts unprotected; either becomes protected again when a backup joins it (join_service.h).
#pragma once

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "logging_channel/console_writer.h"
#include "logging_channel/held_output.h"
#include "logging_channel/lag_tracker.h"
#include "logging_channel/output_gate.h"
#include "pair/pair_side.h"
#include "pair/primary_log.h"
#include "vmm/event_queue.h"

namespace ftvm {

enum class ProtectionRole { kProtected, kDeciding, kUnprotected, kJoining, kHalted };

// As a side's status says it ("primary (unprotected)"); ftvm pair reads these.
const char* protection_role_name(ProtectionRole role);

// What holds back the guest's outputs until a backup could reproduce them.
struct GuardedOutputs {
  PrimaryLog& log;
  channel::OutputGate& gate;
  channel::ConsoleWriter& writer;
  channel::LagTracker& lag;
  // The guest's disk writes and transmitted frames, where it has a disk and a network card.
  std::vector<channel::HeldOutput*> held;
};

class Protection {
 public:
  // `side` names this process in its log lines ("primary", "backup").
  Protection(const PairSideOptions& pair, const char* side, GuardedOutputs outputs,
             EventQueue& events, ProtectionRole role);

  // Link thread: the backup that protected the guest is gone (`reason`); asks the arbiter and
  // runs on unprotected, or halts the guest.
  void backup_lost(const std::string& reason);

  ProtectionRole role() const { return role_.load(); }
  // Set when the arbiter decided this side's fate (its exit code), else -1.
  int exit_code() const { return exit_code_.load(); }
  // The pair's identity at the arbiter now: the generation grows with every backup that joined.
  PairSideOptions current_pair() const;
  uint64_t generation() const { return generation_.load(); }
  const char* side() const { return side_; }
  GuardedOutputs& outputs() { return outputs_; }
  EventQueue& events() { return events_; }

  // Adds what a side's status says about the guest's protection: backups joined and diverged,
  // the transfer under way, the backup link's health, lag and outputs.
  void add_status(nlohmann::json& status) const;

  // The fault-injection partition: the backup's link stops (no-op without a backup).
  void cut_link();
  // After the guest stopped: tells the backup why (`detail`), or waits for a lost backup's
  // link thread, which may still be asking the arbiter and decides the exit code; output no
  // backup acknowledged stays withheld.
  void end(const std::string& detail);

  // --- For joining backups (join_service.h) ---
  // Why no backup may join as `generation` now, if it may not.
  std::optional<std::string> join_refusal(uint64_t generation) const;
  // Unprotected -> joining; false if the role changed meanwhile.
  bool begin_join();
  void transfer_progress(uint32_t round, uint64_t pages);
  void set_guest_pages(uint64_t pages) { guest_pages_ = pages; }
  // The join failed before the handover: unprotected, as before.
  void join_failed() { role_.store(ProtectionRole::kUnprotected); }
  // With the guest stopped for the handover: the pair is `generation` from here on.
  void take_generation(uint64_t generation) { generation_.store(generation); }
  void joined() {
    joins_.fetch_add(1);
    role_.store(ProtectionRole::kProtected);
  }

 private:
  void halt(int exit_code, const std::string& why, const std::string& stop_reason);

  PairSideOptions pair_;
  const char* side_;
  GuardedOutputs outputs_;
  EventQueue& events_;
  std::atomic<ProtectionRole> role_;
  std::atomic<int> exit_code_{-1};
  std::atomic<uint64_t> generation_;
  std::atomic<uint64_t> joins_{0};
  std::atomic<uint64_t> backups_diverged_{0};
  // The join under way: its latest round, and the pages sent so far.
  std::atomic<uint32_t> transfer_round_{0};
  std::atomic<uint64_t> transfer_pages_{0};
  uint64_t guest_pages_ = 0;
};

}  // namespace ftvm
