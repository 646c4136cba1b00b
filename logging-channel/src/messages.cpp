#include "logging_channel/messages.h"

#include <iterator>

namespace ftvm::channel {
namespace {

// Indexed by MessageType - 1, which is also the alternative's index in Message.
const char* const kNames[] = {"hello",   "log",      "heartbeat",   "ack",
                              "goodbye", "greeting", "state-pages", "state-done"};
static_assert(std::size(kNames) == std::variant_size_v<Message>);

}  // namespace

MessageType message_type(const Message& m) {
  return static_cast<MessageType>(m.index() + 1);
}

const char* message_name(const Message& m) {
  return kNames[m.index()];
}

const char* message_name(MessageType type) {
  return kNames[static_cast<size_t>(type) - 1];
}

const char* role_name(ChannelRole role) {
  return role == ChannelRole::kPrimary ? "primary" : "backup";
}

bool is_message_type(uint8_t type) {
  return type >= 1 && type <= std::size(kNames);
}

}  // namespace ftvm::channel
