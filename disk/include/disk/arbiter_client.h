// Asking the arbiter, one connection a request. Every call is bounded by `timeout`, connecting
// included. An error means no answer: a side that gets one must not go live (an unreachable
// arbiter may be exactly what a partition looks like from the losing side).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "disk/arbiter_state.h"
#include "vmm/result.h"

namespace ftvm::disk {

struct TasOutcome {
  bool won = false;
  std::string winner;       // the side that holds the generation: the caller when it won
  uint64_t generation = 0;  // the winner's: above the requested one when that was stale
};

// "arbiter unreachable at ADDR: ..." when nothing answered; "arbiter at ADDR refused: ..."
// when it answered ERR (a malformed request, or the arbiter could not record the decision).
Result<TasOutcome> test_and_set(const std::string& address, const std::string& vm_id,
                                uint64_t generation, const std::string& side,
                                const std::string& incarnation, std::chrono::milliseconds timeout);
// A fresh random incarnation (names.h) for one process of a side.
std::string new_incarnation();

// The winner of the VM's highest generation, or nullopt if the arbiter has none recorded.
Result<std::optional<Winner>> query(const std::string& address, const std::string& vm_id,
                                    std::chrono::milliseconds timeout);

Result<void> ping(const std::string& address, std::chrono::milliseconds timeout);

}  // namespace ftvm::disk
