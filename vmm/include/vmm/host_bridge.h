// Host network interfaces: plugging a TAP into a bridge, as `ip link set NAME master BRIDGE up`
// does, for a network whose bridge someone else made (libvirt's).
#pragma once

#include <string>

#include "vmm/result.h"

namespace ftvm {

// Adds interface `name` to `bridge` (SIOCBRADDIF) and brings it up.
Result<void> plug_into_bridge(const std::string& name, const std::string& bridge);

}  // namespace ftvm
