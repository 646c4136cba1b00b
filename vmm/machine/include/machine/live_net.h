// --net: the VM's virtio-net card, for the commands that feed a VM from the host (run,
// record, primary). Its host side: a TAP device (`tap:NAME`, e.g. from scripts/lab), or a port
// on a libvirt-managed network (`libvirt:NETWORK`) with a TAP of ftvm's own plugged into it.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "machine/libvirt_lease.h"
#include "vmm/devices/net_frame.h"
#include "vmm/devices/virtio_net.h"
#include "vmm/event_queue.h"
#include "vmm/result.h"
#include "vmm/tap_backend.h"
#include "vmm/vm.h"

namespace ftvm {

struct NetOptions {
  std::string spec;  // empty: no network card
  std::string mac = "02:46:54:56:4d:01";
};

// The card's host side on the live VM.
struct LiveNet {
  std::unique_ptr<TapBackend> tap;
  VirtioNet::Mac mac{};
  // With libvirt:NETWORK, the reserved port (destroyed first: the filter binding and the port
  // go back before the TAP closes).
  std::unique_ptr<LibvirtPortLease> libvirt_port;
};

// std::nullopt without --net. Received frames go to `events`, which must outlive the card.
Result<std::optional<LiveNet>> open_live_net(const NetOptions& options, EventQueue& events,
                                             TapBackend::Mode mode = TapBackend::Mode::kLive);
// Puts the card into `vm`, its frames to the TAP.
Result<void> attach_live_net(Vm& vm, LiveNet& net);

// A replay's card: what the guest transmits was the recording's output; it is counted and
// goes nowhere.
class DiscardingNetSink final : public NetSink {
 public:
  void transmit(std::vector<uint8_t>) override { ++frames_; }
  uint64_t frames() const { return frames_; }

 private:
  uint64_t frames_ = 0;
};

}  // namespace ftvm
