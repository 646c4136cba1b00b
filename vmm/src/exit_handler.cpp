#include "vmm/exit_handler.h"

#include <fmt/format.h>

#include <cstring>

namespace ftvm {

void ExitHandler::access(Bus& bus, uint64_t address, uint8_t* data, uint32_t size, bool is_write) {
  auto route = bus.find(address, size);
  if (!route) {
    // Like an ISA bus with nothing on it: writes vanish, reads float high.
    ++counters_.unclaimed;
    if (!is_write) std::memset(data, 0xff, size);
    return;
  }
  if (is_write) {
    route->device->write(route->offset, {data, size});
  } else {
    route->device->read(route->offset, {data, size});
  }
}

ExitOutcome ExitHandler::handle_pio(kvm_run& run) {
  ++counters_.pio;
  const auto& io = run.io;
  const uint64_t bytes = uint64_t{io.size} * io.count;
  if (io.size == 0 || io.data_offset > run_page_bytes_ ||
      bytes > run_page_bytes_ - io.data_offset) {
    return {ExitAction::kFault,
            fmt::format("KVM reported PIO port {:#x} size {} count {} at data offset {:#x}, "
                        "outside the {}-byte run page",
                        io.port, io.size, io.count, io.data_offset, run_page_bytes_)};
  }
  auto* data = reinterpret_cast<uint8_t*>(&run) + io.data_offset;
  const bool is_write = io.direction == KVM_EXIT_IO_OUT;
  for (uint32_t i = 0; i < io.count; ++i) {
    access(pio_, io.port, data + uint64_t{i} * io.size, io.size, is_write);
  }
  return {};
}

ExitOutcome ExitHandler::handle_mmio(kvm_run& run) {
  ++counters_.mmio;
  auto& mmio = run.mmio;
  if (mmio.len == 0 || mmio.len > sizeof(mmio.data)) {
    return {ExitAction::kFault, fmt::format("KVM reported an MMIO access of {} bytes at {:#x}",
                                            mmio.len, mmio.phys_addr)};
  }
  access(mmio_, mmio.phys_addr, mmio.data, mmio.len, mmio.is_write != 0);
  return {};
}

ExitOutcome ExitHandler::handle(kvm_run& run) {
  switch (run.exit_reason) {
    case KVM_EXIT_IO:
      ++counters_.deterministic;
      return handle_pio(run);
    case KVM_EXIT_MMIO:
      ++counters_.deterministic;
      return handle_mmio(run);
    case KVM_EXIT_HLT:
      ++counters_.deterministic;
      ++counters_.hlt;
      return {ExitAction::kHalt, {}};
    case KVM_EXIT_IRQ_WINDOW_OPEN:
      ++counters_.deterministic;
      ++counters_.irq_window;
      return {};
    case KVM_EXIT_DEBUG:
      // Only the replayer's breakpoints and single steps cause these; the recording side never
      // sees them, so they are not part of E.
      ++counters_.debug;
      return {};
    case KVM_EXIT_INTR:
      ++counters_.interrupted;
      return {};
    case KVM_EXIT_SHUTDOWN:
      return {ExitAction::kFault, "triple fault: the guest took an exception it could not handle"};
    case KVM_EXIT_FAIL_ENTRY:
      return {ExitAction::kFault, fmt::format("VM entry failed, hardware reason {:#x}",
                                              run.fail_entry.hardware_entry_failure_reason)};
    case KVM_EXIT_INTERNAL_ERROR:
      return {ExitAction::kFault,
              fmt::format("the vCPU backend cannot go on (internal error, suberror {})",
                          run.internal.suberror)};
    default:
      return {ExitAction::kFault, fmt::format("unexpected KVM exit reason {}", run.exit_reason)};
  }
}

}  // namespace ftvm
