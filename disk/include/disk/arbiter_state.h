// The arbiter's decisions as they are kept on disk: for each VM, the winner of its highest
// generation (lower generations are stale and lose whatever was recorded for them, so only the
// highest needs keeping). A text file, readable with cat:
//
//   ftvm-arbiter-state 2
//   vm <vm-id> <generation> <side> [<incarnation>]
//   ...
//
// (Version 1 files, written before wins were held by an incarnation, read as wins without
// one.)
//   checksum <xxh3-64 of every byte before this line, 16 hex digits>
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "vmm/result.h"

namespace ftvm::disk {

struct Winner {
  std::string side;
  uint64_t generation = 0;
  std::string incarnation;  // the winning process; empty where the request named none
  bool operator==(const Winner&) const = default;
};

using ArbiterState = std::map<std::string, Winner>;  // by VM id

std::string encode_state(const ArbiterState& state);

// Rejects anything but what encode_state writes, naming the line at fault: a damaged state
// file must stop the arbiter, never be read as fewer decisions than were made.
Result<ArbiterState> decode_state(std::string_view text);

}  // namespace ftvm::disk
