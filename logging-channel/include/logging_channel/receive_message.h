// Waiting for one message on a connection no link thread reads yet: the primary's hello on the
// backup, the backup's first ack on the primary.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string_view>

#include "logging_channel/frame.h"
#include "logging_channel/messages.h"
#include "vmm/result.h"

namespace ftvm::channel {

// Reads from `fd` into `buffer` and feeds `decoder` until it yields a message or `timeout`
// passes. Errors name `peer` ("primary", "backup") and what this side was `waiting_for` ("the
// VM"). Adds the bytes read to `bytes_read`.
Result<Message> receive_message(int fd, FrameDecoder& decoder, std::span<uint8_t> buffer,
                                std::chrono::milliseconds timeout, std::string_view peer,
                                std::string_view waiting_for, uint64_t& bytes_read);

}  // namespace ftvm::channel
