#include "vmm/platform.h"

#include <fmt/format.h>

#include <vector>

#include "testsvc/abi.h"

namespace ftvm {

namespace abi = testsvc::abi;

Platform::Platform(TimeSource& time, ConsoleSink& console)
    : pit_(time, IrqLine(pic_, abi::kIrqPit)),
      uart_(console, IrqLine(pic_, abi::kIrqCom1)),
      rtc_(time) {}

Result<void> Platform::attach_devices() {
  struct Claim {
    uint64_t base;
    uint64_t length;
    IoDevice& device;
    const char* name;
  };
  const Claim claims[] = {
      {abi::kPicMasterCommand, 2, pic_.master_io(), "pic-master"},
      {abi::kPicSlaveCommand, 2, pic_.slave_io(), "pic-slave"},
      {abi::kPitChannel0, 4, pit_, "pit"},
      {abi::kRtcIndex, 2, rtc_, "rtc"},
      {abi::kCom1Base, 8, uart_, "com1"},
      {abi::kShutdownPort, 4, shutdown_port_, "shutdown"},
  };
  for (const auto& claim : claims) {
    if (auto r = pio_bus_.insert(claim.base, claim.length, claim.device, claim.name); !r) {
      return r;
    }
  }
  return {};
}

Result<void> Platform::attach_disk(const GuestMemory& memory, BlockBackend& backend,
                                   VirtioBlk::Options options) {
  if (disk_) return make_error("the machine has a disk already");
  auto disk = std::make_unique<VirtioBlk>(memory, backend, std::move(options));
  auto transport = std::make_unique<VirtioMmio>(*disk, memory, IrqLine(pic_, abi::kIrqVirtioBlk));
  if (auto r =
          mmio_bus_.insert(abi::kVirtioBlkGpa, abi::kVirtioSlotBytes, *transport, "virtio-blk");
      !r) {
    return r;
  }
  disk_ = std::move(disk);
  disk_transport_ = std::move(transport);
  return {};
}

Result<void> Platform::attach_net(const GuestMemory& memory, NetSink& sink, VirtioNet::Mac mac) {
  if (net_) return make_error("the machine has a network card already");
  auto net = std::make_unique<VirtioNet>(memory, sink, mac);
  auto transport = std::make_unique<VirtioMmio>(*net, memory, IrqLine(pic_, abi::kIrqVirtioNet));
  if (auto r =
          mmio_bus_.insert(abi::kVirtioNetGpa, abi::kVirtioSlotBytes, *transport, "virtio-net");
      !r) {
    return r;
  }
  net_ = std::move(net);
  net_transport_ = std::move(transport);
  return {};
}

VirtioStates Platform::capture_virtio() const {
  VirtioStates states;
  if (disk_) {
    states.disk.emplace();
    states.disk->transport = disk_transport_->capture();
    disk_->capture(*states.disk);
  }
  if (net_) states.net = VirtioNetState{net_transport_->capture(), net_->waiting_frames()};
  return states;
}

Result<void> Platform::load_virtio(const VirtioStates& states) {
  if (states.disk.has_value() != (disk_ != nullptr) ||
      states.net.has_value() != (net_ != nullptr)) {
    return make_error(fmt::format(
        "the sender's machine has {} disk and {} network card, this one {} and {}",
        states.disk ? "a" : "no", states.net ? "a" : "no", disk_ ? "a" : "no", net_ ? "a" : "no"));
  }
  if (disk_) {
    if (auto r = disk_transport_->load(states.disk->transport); !r) return r;
    if (auto r = disk_->load(*states.disk); !r) return r;
  }
  if (net_) {
    if (auto r = net_transport_->load(states.net->transport); !r) return r;
    if (auto r = net_->load_waiting_frames(states.net->waiting); !r) return r;
  }
  return {};
}

Result<void> Platform::apply(const Event& event) {
  if (const auto* expiry = std::get_if<PitExpiry>(&event)) {
    pit_.expire(expiry->generation);
  } else if (const auto* input = std::get_if<ConsoleInput>(&event)) {
    pending_input_.insert(pending_input_.end(), input->bytes.begin(), input->bytes.end());
    offer_pending_input();
  } else if (const auto* done = std::get_if<BlockCompletion>(&event)) {
    if (disk_ == nullptr) {
      return make_error(
          fmt::format("a block completion (request {}) for a machine without a disk", done->id));
    }
    return disk_->complete(*done);
  } else if (const auto* frame = std::get_if<NetFrame>(&event)) {
    // A frame for a machine without a card is the host's business, not the log's: dropped.
    if (net_ == nullptr) return {};
    // What goes wrong here is the guest's doing (a receive buffer too small): it breaks the
    // device, as a bad request does, and the VM runs on.
    if (auto r = net_->receive(*frame); !r) net_transport_->fail(r.error().message);
  }
  // InterruptWindow changes nothing: the runner delivers what the PIC holds.
  return {};
}

void Platform::offer_pending_input() {
  if (pending_input_.empty() || !uart_.request_to_send()) return;
  const size_t space = uart_.rx_space();
  if (space == 0) return;
  const size_t n = std::min(space, pending_input_.size());
  std::vector<uint8_t> chunk(pending_input_.begin(), pending_input_.begin() + n);
  const size_t accepted = uart_.receive(chunk);
  pending_input_.erase(pending_input_.begin(), pending_input_.begin() + accepted);
}

}  // namespace ftvm
