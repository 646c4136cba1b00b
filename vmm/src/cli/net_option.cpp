#include "net_option.h"

#include <fmt/format.h>

namespace ftvm {

void add_net_options(CLI::App& command, NetOptions& options) {
  command.add_option("--net", options.spec,
                     "Give the guest a virtio-net card on the host's TAP device NAME (tap:NAME; "
                     "scripts/lab makes a test network with tap0 and tap1)");
  command.add_option("--mac", options.mac, "The card's MAC address")->capture_default_str();
}

Result<std::optional<LiveNet>> open_live_net(const NetOptions& options, EventQueue& events,
                                             TapBackend::Mode mode) {
  if (options.spec.empty()) return std::optional<LiveNet>();
  if (!options.spec.starts_with("tap:")) {
    return make_error(
        fmt::format("--net {}: say which host side, tap:NAME (the only one so far)", options.spec));
  }
  auto mac = parse_mac(options.mac);
  if (!mac) return make_error("--mac: " + mac.error().message);
  auto tap = TapBackend::open(options.spec.substr(4), events, mode);
  if (!tap) return make_error("--net: " + tap.error().message);
  return std::optional<LiveNet>(LiveNet{std::move(*tap), *mac});
}

Result<void> attach_live_net(Vm& vm, LiveNet& net) {
  return vm.platform().attach_net(vm.memory(), *net.tap, net.mac);
}

}  // namespace ftvm
