#include "vmm/host_bridge.h"

#include <fmt/format.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "vmm/unique_fd.h"

namespace ftvm {
namespace {

Result<ifreq> named_request(const std::string& name) {
  ifreq request{};
  if (name.empty() || name.size() >= sizeof(request.ifr_name)) {
    return make_error(fmt::format("'{}' is not a network interface name", name));
  }
  std::memcpy(request.ifr_name, name.data(), name.size());
  return request;
}

}  // namespace

Result<void> plug_into_bridge(const std::string& name, const std::string& bridge) {
  UniqueFd control(::socket(AF_LOCAL, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!control.valid()) return make_error(fmt::format("socket: {}", std::strerror(errno)));
  const unsigned index = ::if_nametoindex(name.c_str());
  if (index == 0) {
    return make_error(fmt::format("no interface {}: {}", name, std::strerror(errno)));
  }
  auto to_bridge = named_request(bridge);
  if (!to_bridge) return to_bridge.error();
  to_bridge->ifr_ifindex = static_cast<int>(index);
  if (::ioctl(control.get(), SIOCBRADDIF, &*to_bridge) < 0) {
    return make_error(
        fmt::format("cannot add {} to bridge {}: {}", name, bridge, std::strerror(errno)));
  }
  auto flags = named_request(name);
  if (!flags) return flags.error();
  if (::ioctl(control.get(), SIOCGIFFLAGS, &*flags) < 0) {
    return make_error(fmt::format("cannot read {}'s flags: {}", name, std::strerror(errno)));
  }
  flags->ifr_flags |= IFF_UP;
  if (::ioctl(control.get(), SIOCSIFFLAGS, &*flags) < 0) {
    return make_error(fmt::format("cannot bring {} up: {}", name, std::strerror(errno)));
  }
  return {};
}

}  // namespace ftvm
