// The VM's side of `--net libvirt:NETWORK` and `--disk libvirt:POOL/VOLUME`: libvirt itself
// runs in the helper ftvm-libvirt (vmm/src/libvirt_helper_main.cpp says why), which holds the
// port for as long as this process holds the lease, and gives it back when this process ends,
// however it ends.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "machine/child_process.h"
#include "vmm/result.h"

namespace ftvm {

class LibvirtPortLease {
 public:
  // `spec` is what follows `libvirt:` in --net.
  static Result<std::unique_ptr<LibvirtPortLease>> reserve(const std::string& spec,
                                                           const std::array<uint8_t, 6>& mac,
                                                           const std::string& owner);
  // Gives the port back (and the filter binding), waiting a few seconds for libvirt.
  ~LibvirtPortLease();
  LibvirtPortLease(const LibvirtPortLease&) = delete;
  LibvirtPortLease& operator=(const LibvirtPortLease&) = delete;

  const std::string& bridge() const { return bridge_; }
  const std::string& tap_name() const { return tap_; }
  // Binds the spec's nwfilter, if it names one, to `tap` (which must exist and be plugged in).
  Result<void> bind_filter(const std::string& tap);

 private:
  explicit LibvirtPortLease(ChildProcess helper) : helper_(std::move(helper)) {}
  Result<std::string> read_reply();

  ChildProcess helper_;
  std::string bridge_;
  std::string tap_;
};

// The path libvirt gives `POOL/VOLUME` in the daemon at `uri`.
Result<std::string> libvirt_volume_path_via_helper(const std::string& volume,
                                                   const std::string& uri);

}  // namespace ftvm
