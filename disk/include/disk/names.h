// The names the arbiter keys its decisions by. They travel as space-separated words on the
// wire and in the state file, so their alphabets exclude spaces and line breaks.
#pragma once

#include <string_view>

#include "vmm/result.h"

namespace ftvm::disk {

// A protected VM: [A-Za-z0-9._-], 1 to 64 characters.
Result<void> check_vm_id(std::string_view vm_id);

// A side of a pair ("primary", "backup", ...): [a-z0-9-], 1 to 32 characters.
Result<void> check_side(std::string_view side);
// One process of a side (a random token it makes at start): [0-9a-f], 8 to 32 characters.
Result<void> check_incarnation(std::string_view incarnation);

}  // namespace ftvm::disk
