// libvirt as its users meet it, for a VMM that is not QEMU: `--net libvirt:NETWORK` puts the
// guest's card on a network libvirt manages, and `--disk libvirt:POOL/VOLUME` names a volume
// of one of its storage pools (docs/network.md, "libvirt").
//
// The network side goes through libvirt's public API as a hypervisor driver would: the VM
// reserves a port on the network (virNetworkPortCreateXML, owned by the protected VM, with its
// MAC), learns from the port where to plug in (a bridge), plugs in a TAP of its own, and binds
// an nwfilter to that TAP if asked (virNWFilterBindingCreateXML, e.g. clean-traffic). All of
// it is released when the VM ends. libvirt's domain XML is not involved: it has no public
// parser, and ftvm's VMs are not libvirt domains.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "vmm/result.h"

namespace ftvm {

struct LibvirtNetSpec {
  std::string network;
  std::string filter;                  // an nwfilter to bind to the port's TAP; empty: none
  std::string uri = "qemu:///system";  // the libvirt daemon to ask
};

// `NETWORK[,filter=NAME][,uri=URI]`, what follows `libvirt:` in --net.
Result<LibvirtNetSpec> parse_libvirt_net_spec(std::string_view spec);

// A port reserved on a libvirt network, and the filter binding once one is made; both are
// released on destruction, the binding first.
class LibvirtPort {
 public:
  // Reserves a port on `spec.network` for the VM `owner_name` with `mac`. Fails with libvirt's
  // own message (the network missing or inactive, the MAC taken, a port plugged other than
  // into a bridge, which ftvm cannot use).
  static Result<std::unique_ptr<LibvirtPort>> reserve(const LibvirtNetSpec& spec,
                                                      const std::array<uint8_t, 6>& mac,
                                                      const std::string& owner_name);
  ~LibvirtPort();
  LibvirtPort(const LibvirtPort&) = delete;
  LibvirtPort& operator=(const LibvirtPort&) = delete;

  // The bridge libvirt plugs this port into.
  const std::string& bridge() const { return bridge_; }
  // A name for the VM's TAP device, unique to this port (at most 15 characters).
  const std::string& tap_name() const { return tap_name_; }
  const std::string& uuid() const { return uuid_; }
  // Binds spec.filter (if any) to `tap`, once that TAP exists and is plugged in.
  Result<void> bind_filter(const std::string& tap);

 private:
  struct Handles;
  explicit LibvirtPort(std::unique_ptr<Handles> handles);

  std::unique_ptr<Handles> handles_;
  std::string bridge_;
  std::string tap_name_;
  std::string uuid_;
};

// The path of `POOL/VOLUME` (what follows `libvirt:` in --disk) in the daemon at `uri`.
Result<std::string> libvirt_volume_path(std::string_view pool_and_volume,
                                        const std::string& uri = "qemu:///system");

}  // namespace ftvm
