// What the arbiter answers to one request line, apart from any socket: the server feeds it
// lines and sends back what it returns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "disk/arbiter_store.h"

namespace ftvm::disk {

// A test-and-set the store decided, for the server's log.
struct Decision {
  std::string vm_id;
  uint64_t generation = 0;
  std::string side;
  TasResult result;
};

struct Answer {
  std::string reply;   // one line, '\n' included
  bool close = false;  // the request was malformed: close the connection after the reply
  std::optional<Decision> decision;
  bool signed_request = false;  // the request carried a valid signature of the pair's key
};

Answer answer_request(ArbiterStore& store, std::string_view line);

// "arbiter: vm X generation G: backup WON" or "... primary LOST (winner backup)".
std::string describe(const Decision& decision);

}  // namespace ftvm::disk
