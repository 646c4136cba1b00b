// Resolution and socket set-up shared by listening and connecting. Private to ftvm_channel.
#pragma once

#include <netdb.h>

#include <chrono>
#include <cstdint>
#include <memory>

#include "logging_channel/tcp.h"

namespace ftvm::channel {

struct AddrinfoDeleter {
  void operator()(addrinfo* list) const { freeaddrinfo(list); }
};
using AddrinfoList = std::unique_ptr<addrinfo, AddrinfoDeleter>;

// TCP addresses for `at`; `passive` for binding.
Result<AddrinfoList> resolve(const Endpoint& at, bool passive);

// Latency over throughput: a log chunk or ack must not wait for Nagle's timer.
Result<void> set_no_delay(int fd);
Result<void> set_nonblocking(int fd, bool nonblocking);

// Waits up to `timeout_ms` for `events` on fd: 1 ready, 0 timed out; EINTR restarts with
// the time left.
Result<int> poll_one(int fd, short events, int64_t timeout_ms);

// Milliseconds from now to `deadline`, 0 once it passed.
int64_t ms_until(std::chrono::steady_clock::time_point deadline);

std::string errno_text(int error);

}  // namespace ftvm::channel
