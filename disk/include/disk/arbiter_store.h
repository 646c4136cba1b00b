// The arbiter's decisions and their durable record. One side of a pair may go live only after
// the arbiter has recorded it as the winner of the pair's current generation; this class is
// where that record is made and kept.
//
// Not thread-safe: the server calls it from one thread, which is what makes test-and-set
// atomic.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "disk/arbiter_state.h"
#include "vmm/result.h"
#include "vmm/unique_fd.h"

namespace ftvm::disk {

struct TasResult {
  bool won = false;
  std::string winner;       // the recorded winner (the caller itself when won)
  uint64_t generation = 0;  // the winner's generation: above the one asked for when stale
  std::string reason;       // why it lost, for logs: "winner backup", ...
};

class ArbiterStore {
 public:
  static constexpr const char* kStateFileName = "arbiter.state";
  static constexpr const char* kLockFileName = "arbiter.lock";

  // Loads the state in `state_dir` (an existing directory) and locks the directory against a
  // second arbiter, which could grant the same generation to the other side. No state file
  // means no decisions yet; a damaged one is an error.
  static Result<std::unique_ptr<ArbiterStore>> open(const std::filesystem::path& state_dir);

  // Records `side` (the process `incarnation` of it) as the winner of (vm_id, generation) if
  // nobody holds it yet. The record is on disk before this returns a win. The same process
  // asking again wins again, so a client may retry after a lost reply; any other process loses,
  // even one of the same side. An error means nothing was recorded (the disk failed): the
  // caller must not go live.
  Result<TasResult> test_and_set(const std::string& vm_id, uint64_t generation,
                                 const std::string& side, const std::string& incarnation);

  // The winner of the VM's highest generation, if any.
  std::optional<Winner> query(const std::string& vm_id) const;
  // Every VM's.
  const ArbiterState& decisions() const { return state_; }

  const std::filesystem::path& state_dir() const { return state_dir_; }

 private:
  ArbiterStore(std::filesystem::path state_dir, UniqueFd lock, ArbiterState state)
      : state_dir_(std::move(state_dir)), lock_(std::move(lock)), state_(std::move(state)) {}

  std::filesystem::path state_dir_;
  UniqueFd lock_;
  ArbiterState state_;
};

}  // namespace ftvm::disk
