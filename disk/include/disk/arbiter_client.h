// Asking the arbiter, one connection a request. Every call is bounded by `timeout`, connecting
// included. An error means no answer: a side that gets one must not go live (an unreachable
// arbiter may be exactly what a partition looks like from the losing side).
//
// `key`: the pair's key (line_auth.h). With one, requests are signed and a reply counts only
// if it is signed for this request; empty: unkeyed.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
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
struct TasClaim {
  std::string vm_id;
  uint64_t generation = 0;
  std::string side;
  std::string incarnation;
};
Result<TasOutcome> test_and_set(const std::string& address, std::span<const uint8_t> key,
                                const TasClaim& claim, std::chrono::milliseconds timeout);
// A fresh random incarnation (names.h) for one process of a side.
std::string new_incarnation();

// The winner of the VM's highest generation, or nullopt if the arbiter has none recorded.
Result<std::optional<Winner>> query(const std::string& address, std::span<const uint8_t> key,
                                    const std::string& vm_id, std::chrono::milliseconds timeout);

// Unsigned whatever the key: it only asks whether an arbiter is up.
Result<void> ping(const std::string& address, std::chrono::milliseconds timeout);

}  // namespace ftvm::disk
