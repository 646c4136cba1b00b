// Where an unkeyed channel may go. Without --key-file a frame's tag is only a checksum, so
// anyone who can reach the port could forge log entries or acks: such a channel stays on
// loopback.
#pragma once

#include <string_view>

#include "logging_channel/frame_key.h"
#include "logging_channel/tcp.h"
#include "vmm/result.h"

namespace ftvm::channel {

// `option` names the command-line option that gave `endpoint` (e.g. "--listen"), for the
// message.
Result<void> check_endpoint_allowed(const Endpoint& endpoint, const FrameKey& key,
                                    std::string_view option);

}  // namespace ftvm::channel
