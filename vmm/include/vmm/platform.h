// The PC-like platform the guest sees: the device models wired to each other (IRQ lines) and
// to the buses, plus the rules for applying external events to them. Contains no KVM, so the
// whole device side of a VM can be driven in unit tests.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>

#include "vmm/bus.h"
#include "vmm/devices/cmos_rtc.h"
#include "vmm/devices/console.h"
#include "vmm/devices/pic8259.h"
#include "vmm/devices/pit8254.h"
#include "vmm/devices/shutdown_port.h"
#include "vmm/devices/time_source.h"
#include "vmm/devices/uart16550.h"
#include "vmm/devices/virtio_blk.h"
#include "vmm/devices/virtio_net.h"
#include "vmm/event.h"
#include "vmm/result.h"

namespace ftvm {

class Platform {
 public:
  Platform(TimeSource& time, ConsoleSink& console);
  Platform(const Platform&) = delete;
  Platform& operator=(const Platform&) = delete;

  // Claims the legacy port ranges of testsvc/abi.h on the port bus.
  Result<void> attach_devices();

  // An error means the event cannot be applied to this machine (a block completion the disk
  // never asked for): the log or a backend is broken, and the run must stop with a report.
  Result<void> apply(const Event& event);
  // Gives the VM a disk: virtio-blk in the disk slot of testsvc/abi.h, on its IRQ. `memory`
  // and `backend` must outlive the platform. Block completions go to it.
  Result<void> attach_disk(const GuestMemory& memory, BlockBackend& backend,
                           VirtioBlk::Options options);
  // Gives the VM a network card: virtio-net in the network slot of testsvc/abi.h, on its IRQ,
  // its frames going to `sink`. `memory` and `sink` must outlive the platform.
  Result<void> attach_net(const GuestMemory& memory, NetSink& sink, VirtioNet::Mac mac);
  const VirtioNet* net() const { return net_.get(); }
  const VirtioBlk* disk() const { return disk_.get(); }
  // The virtio devices' state outside guest RAM (virtio_state.h; the disk's requests as its
  // backend got them are left to the caller), and loading another machine's: it must have
  // the same devices. An error may leave a device half loaded: the machine is not to run.
  VirtioStates capture_virtio() const;
  Result<void> load_virtio(const VirtioStates& states);
  // Console input that did not fit the UART FIFO waits here and is offered again after each
  // exit, as the guest drains the FIFO.
  void offer_pending_input();
  bool has_pending_input() const { return !pending_input_.empty(); }
  size_t pending_input_bytes() const { return pending_input_.size(); }
  // That waiting input, for a machine state handed to another VM (a state transfer), and its
  // restoring there.
  std::vector<uint8_t> pending_input() const {
    return {pending_input_.begin(), pending_input_.end()};
  }
  void restore_pending_input(std::span<const uint8_t> bytes) {
    pending_input_.assign(bytes.begin(), bytes.end());
  }

  Bus& pio_bus() { return pio_bus_; }
  Bus& mmio_bus() { return mmio_bus_; }
  PicPair& pic() { return pic_; }
  Pit8254& pit() { return pit_; }
  Uart16550& uart() { return uart_; }
  CmosRtc& rtc() { return rtc_; }
  ShutdownPort& shutdown_port() { return shutdown_port_; }

 private:
  Bus pio_bus_;
  Bus mmio_bus_;
  PicPair pic_;
  Pit8254 pit_;
  Uart16550 uart_;
  CmosRtc rtc_;
  ShutdownPort shutdown_port_;
  std::deque<uint8_t> pending_input_;
  std::unique_ptr<VirtioBlk> disk_;
  std::unique_ptr<VirtioMmio> disk_transport_;
  std::unique_ptr<VirtioNet> net_;
  std::unique_ptr<VirtioMmio> net_transport_;
};

}  // namespace ftvm
