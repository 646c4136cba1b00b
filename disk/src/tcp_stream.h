// The client's side of a connection: every step bounded by one deadline, because a side
// waiting on an arbiter that does not answer must find out in time to stay down.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "vmm/result.h"
#include "vmm/unique_fd.h"

namespace ftvm::disk {

using Deadline = std::chrono::steady_clock::time_point;

// A connected, non-blocking socket with TCP_NODELAY (one small request, one small reply:
// Nagle's algorithm would only add latency).
Result<UniqueFd> connect_tcp(const std::string& address, Deadline deadline);

Result<void> send_all(int fd, std::string_view bytes, Deadline deadline);

// Reads up to and including the first '\n' (returned without it); `max_bytes` bounds it.
Result<std::string> receive_line(int fd, size_t max_bytes, Deadline deadline);

}  // namespace ftvm::disk
