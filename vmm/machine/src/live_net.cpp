#include "machine/live_net.h"

#include <fmt/format.h>
#include <unistd.h>

#include "vmm/host_bridge.h"

namespace ftvm {

namespace {

Result<std::optional<LiveNet>> open_libvirt_net(const std::string& spec, const VirtioNet::Mac& mac,
                                                EventQueue& events, TapBackend::Mode mode) {
  auto port = LibvirtPortLease::reserve(spec, mac, fmt::format("ftvm-{}", ::getpid()));
  if (!port) return make_error("--net: " + port.error().message);
  auto tap = TapBackend::open((*port)->tap_name(), events, mode);
  if (!tap) return make_error("--net: " + tap.error().message);
  if (auto r = plug_into_bridge((*port)->tap_name(), (*port)->bridge()); !r) {
    return make_error("--net: " + r.error().message);
  }
  if (auto r = (*port)->bind_filter((*port)->tap_name()); !r) {
    return make_error("--net: " + r.error().message);
  }
  return std::optional<LiveNet>(LiveNet{std::move(*tap), mac, std::move(*port)});
}

}  // namespace

Result<std::optional<LiveNet>> open_live_net(const NetOptions& options, EventQueue& events,
                                             TapBackend::Mode mode) {
  if (options.spec.empty()) return std::optional<LiveNet>();
  const bool libvirt = options.spec.starts_with("libvirt:");
  if (!options.spec.starts_with("tap:") && !libvirt) {
    return make_error(
        fmt::format("--net {}: say which host side, tap:NAME or libvirt:NETWORK", options.spec));
  }
  auto mac = parse_mac(options.mac);
  if (!mac) return make_error("--mac: " + mac.error().message);
  if (libvirt) return open_libvirt_net(options.spec.substr(8), *mac, events, mode);
  auto tap = TapBackend::open(options.spec.substr(4), events, mode);
  if (!tap) return make_error("--net: " + tap.error().message);
  return std::optional<LiveNet>(LiveNet{std::move(*tap), *mac, nullptr});
}

Result<void> attach_live_net(Vm& vm, LiveNet& net) {
  return vm.platform().attach_net(vm.memory(), *net.tap, net.mac);
}

}  // namespace ftvm
