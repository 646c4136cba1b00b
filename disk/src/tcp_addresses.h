// Name resolution shared by the listening and connecting sides.
#pragma once

#include <netdb.h>

#include <memory>
#include <string>

#include "vmm/result.h"

namespace ftvm::disk {

struct AddrinfoDeleter {
  void operator()(addrinfo* list) const { ::freeaddrinfo(list); }
};
using AddrinfoList = std::unique_ptr<addrinfo, AddrinfoDeleter>;

// The TCP addresses of "HOST:PORT"; `flags` as getaddrinfo's ai_flags (AI_PASSIVE to listen).
Result<AddrinfoList> resolve(const std::string& address, int flags);

}  // namespace ftvm::disk
