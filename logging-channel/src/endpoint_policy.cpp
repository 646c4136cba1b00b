#include "logging_channel/endpoint_policy.h"

#include <fmt/format.h>

namespace ftvm::channel {

Result<void> check_endpoint_allowed(const Endpoint& endpoint, const FrameKey& key,
                                    std::string_view option) {
  if (key.authenticated() || endpoint.is_loopback()) return {};
  return make_error(fmt::format(
      "{} {} is not a loopback address and there is no --key-file: anyone who can reach an "
      "unauthenticated channel could forge its frames; give both sides the same --key-file, or "
      "use 127.0.0.1",
      option, endpoint.to_string()));
}

}  // namespace ftvm::channel
