// What a live state transfer asks of the vCPU thread. Only that thread may read the dirty log
// (the software CPU's is a plain bitmap its write hook sets) and only it can stop the guest
// between two exits, at a position a backup can start from. The sender thread posts a request
// and waits; the vCPU thread's driver calls serve() between exits, and kicks bring it there
// soon when the guest runs without exits.
//
// The guest is stopped only at a deterministic exit, before the driver's turn there: a position
// a backup can start from as "exit E, nothing applied yet". The exit's own I/O is completed
// first (Vcpu::refresh_run_page: KVM and the software CPU both finish an IN, an OUT or an MMIO
// access only on the next entry, after the state would have been captured). Not at a kick,
// where landmarks counted from the last exit would not line up on the backup; not while the
// guest is halted; nor while more console input waits outside the UART than a transfer
// carries. A VM with a virtio
// disk or network card is refused: their queues are not in the machine state yet either.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "vmm/execution_driver.h"
#include "vmm/result.h"
#include "vmm/vcpu_runner.h"
#include "vmm/vcpu_state.h"
#include "vmm/vm.h"

namespace ftvm {

// The guest as the transfer stopped it: its registers and devices (no pages), the pages it
// wrote since the last take_dirty_pages(), and where its runner stood.
struct StoppedMachine {
  MachineState state;
  std::vector<uint64_t> dirty_pages;
  VcpuRunner::ResumePoint at;
  std::vector<uint8_t> console_input;  // given to the guest, not yet in its UART
  // The disk's and network card's state; the disk's unfinished requests as its gate has them.
  VirtioStates virtio;
};

class TransferPort {
 public:
  // `kick` makes the vCPU thread come to serve() soon (VcpuRunner::kick); `wait_limit` bounds
  // how long a request waits for it.
  TransferPort(Vm& vm, std::function<void()> kick,
               std::chrono::milliseconds wait_limit = std::chrono::seconds(5));

  // Sender thread. The pages written since the last call (the first call starts the log).
  Result<std::vector<uint64_t>> take_dirty_pages();
  // Stops the guest at its next deterministic exit (above), where it then waits in serve()
  // until resume(). An error leaves the guest running.
  Result<StoppedMachine> stop();
  void resume();
  // The transfer is over: the VM stops keeping dirty pages for it (at the vCPU's next turn).
  void finish();
  // Where the disk's requests not yet completed are kept with their data (the primary's
  // DiskGate::unfinished): a stop of a VM with a disk takes them from it, on the vCPU thread.
  // Without it such a VM cannot be transferred.
  void set_unfinished_disk_requests(std::function<std::vector<BlockRequest>()> unfinished);
  // Holds the guest for this share of its time from now on (0: not at all), in serve().
  void set_throttle(double share);
  double throttle() const;

  // The vCPU loop ended (or will not serve again): requests fail with `reason` from now on.
  void close(const std::string& reason);

  // vCPU thread, between two exits (`at`, the runner's last exit in `runner`).
  void serve(const VcpuRunner& runner, const BetweenExits& at);

 private:
  enum class Request { kNone, kTakeDirty, kStop };

  // Posts `request` and waits until the vCPU thread served it; false with the reason if not.
  Result<void> post(Request request, std::unique_lock<std::mutex>& lock);
  void serve_take_dirty();
  void serve_stop(const VcpuRunner& runner, std::unique_lock<std::mutex>& lock);
  static bool may_stop_at(const VcpuRunner& runner, const BetweenExits& at);
  void hold_for_throttle();

  Vm& vm_;
  std::function<void()> kick_;
  std::function<std::vector<BlockRequest>()> unfinished_disk_requests_;
  std::chrono::milliseconds wait_limit_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  Request request_ = Request::kNone;
  std::optional<std::string> closed_;
  Result<std::vector<uint64_t>> dirty_result_ = std::vector<uint64_t>{};
  Result<StoppedMachine> stop_result_ = StoppedMachine{};
  bool stopped_ = false;
  bool finished_ = false;
  double throttle_ = 0;
  std::chrono::steady_clock::time_point last_served_ = std::chrono::steady_clock::now();
};

}  // namespace ftvm
