// The page writer guest (vmm/tests/kvm/guests/page_writer.S) as a machine to transfer: a VM
// that rewrites 16 MiB pass after pass, reporting its progress to a test port, run on a vCPU
// thread of its own that serves a TransferPort between exits. Shared by the state-transfer
// tests and scripts/bench/state-transfer.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "pair/transfer_port.h"
#include "vmm/devices/time_source.h"
#include "vmm/execution_driver.h"
#include "vmm/vcpu_runner.h"
#include "vmm/vm.h"

namespace ftvm {

// What the guest writes to the test port every 16 pages: ((pass << 16) | (address >> 16)) plus
// what it read from the port just before, kReadValue.
class ReportPort : public IoDevice {
 public:
  static constexpr uint32_t kReadValue = 0x5a000000;
  void read(uint64_t, std::span<uint8_t> data) override;
  void write(uint64_t, std::span<const uint8_t> data) override;
  size_t count() const { return count_.load(); }
  std::vector<uint32_t> values() const;

 private:
  mutable std::mutex mutex_;
  std::vector<uint32_t> values_;
  std::atomic<size_t> count_{0};
};

class PageWriterMachine {
 public:
  static constexpr uint64_t kPagesPerReport = 16;

  // A booted VM of `mem_bytes` whose guest spins `delay` (>= 1) iterations between two pages.
  static Result<std::unique_ptr<PageWriterMachine>> create(Accel accel, uint64_t mem_bytes,
                                                           uint64_t delay);
  ~PageWriterMachine();

  Vm& vm() { return *vm_; }
  const ReportPort& reports() const { return reports_; }
  TransferPort& port() { return *port_; }

  // Fills the RAM the guest neither runs from nor writes (from 20 MiB on) with pseudo-random
  // bytes: memory in use, which compresses as little as a real guest's data.
  void fill_random(uint64_t seed);

  // Runs the guest on a thread of its own until stop().
  void start();
  // Stops that thread and returns how its loop ended.
  RunResult stop();
  // Runs the guest on the calling thread until it has made `count` reports in all.
  RunResult run_until(size_t count);

 private:
  class Driver;
  PageWriterMachine() = default;

  std::vector<uint8_t> image_;
  HostTimeSource time_;
  std::unique_ptr<ConsoleSink> console_;
  std::unique_ptr<Vm> vm_;
  ReportPort reports_;
  std::unique_ptr<Driver> driver_;
  std::unique_ptr<VcpuRunner> runner_;
  std::unique_ptr<TransferPort> port_;
  std::thread thread_;
  RunResult result_{RunResult::Reason::kFault, 0, "not run"};
};

}  // namespace ftvm
