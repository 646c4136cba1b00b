#include "pair/transfer_port.h"

#include <fmt/format.h>

#include <algorithm>
#include <thread>

#include "logging_channel/messages.h"

namespace ftvm {
namespace {

// The longest one throttled turn holds the guest: a throttle set while the guest ran a long
// stretch without exits must not stall it for that whole stretch again.
constexpr auto kMaxHold = std::chrono::milliseconds(100);

Result<StoppedMachine> capture_stopped(
    Vm& vm, const VcpuRunner& runner,
    const std::function<std::vector<BlockRequest>()>& unfinished_disk_requests) {
  // A joined backup that takes over must be able to issue the disk's requests again.
  if (vm.platform().disk() != nullptr && !unfinished_disk_requests) {
    return make_error(
        "state transfer: this side keeps no copy of its disk's requests in flight, so a VM with a "
        "disk cannot be transferred from it");
  }
  // The exit's own I/O completes now (a read's value into RAX, a write's instruction past),
  // as the next entry would: the state then holds all of it.
  if (auto r = vm.vcpu().refresh_run_page(); !r) return r.error();
  auto dirty = vm.dirty_pages(Vm::DirtyReader::kTransfer);
  if (!dirty) return dirty.error();
  auto registers = capture_registers(vm.vcpu());
  if (!registers) return registers.error();
  StoppedMachine stopped;
  stopped.state.vcpu = std::move(*registers);
  stopped.state.devices = capture_devices(vm.platform());
  stopped.dirty_pages = std::move(*dirty);
  stopped.at = runner.resume_point();
  stopped.console_input = vm.platform().pending_input();
  stopped.virtio = vm.platform().capture_virtio();
  if (stopped.virtio.disk) stopped.virtio.disk->unfinished = unfinished_disk_requests();
  return stopped;
}

}  // namespace

TransferPort::TransferPort(Vm& vm, std::function<void()> kick, std::chrono::milliseconds wait_limit)
    : vm_(vm), kick_(std::move(kick)), wait_limit_(wait_limit) {}

void TransferPort::set_unfinished_disk_requests(
    std::function<std::vector<BlockRequest>()> unfinished) {
  std::lock_guard lock(mutex_);
  unfinished_disk_requests_ = std::move(unfinished);
}

Result<void> TransferPort::post(Request request, std::unique_lock<std::mutex>& lock) {
  if (closed_) return make_error("state transfer: the VM stopped: " + *closed_);
  request_ = request;
  // A kick brings the vCPU between two exits soon; a stop may wait there for a natural exit.
  kick_();
  const bool served = changed_.wait_for(
      lock, wait_limit_, [this] { return request_ == Request::kNone || closed_.has_value(); });
  if (request_ == Request::kNone) return {};
  request_ = Request::kNone;
  if (!served) {
    return make_error(fmt::format(
        "state transfer: {} within {} ms",
        request == Request::kStop
            ? "the guest made no exit where it could stop (a deterministic exit, not halted)"
            : "the vCPU did not come between two exits",
        wait_limit_.count()));
  }
  return make_error("state transfer: the VM stopped: " + *closed_);
}

Result<std::vector<uint64_t>> TransferPort::take_dirty_pages() {
  std::unique_lock lock(mutex_);
  if (auto posted = post(Request::kTakeDirty, lock); !posted) return posted.error();
  return std::move(dirty_result_);
}

Result<StoppedMachine> TransferPort::stop() {
  std::unique_lock lock(mutex_);
  if (auto posted = post(Request::kStop, lock); !posted) return posted.error();
  return std::move(stop_result_);
}

void TransferPort::resume() {
  {
    std::lock_guard lock(mutex_);
    stopped_ = false;
  }
  changed_.notify_all();
}

void TransferPort::finish() {
  std::lock_guard lock(mutex_);
  finished_ = true;
}

void TransferPort::set_throttle(double share) {
  std::lock_guard lock(mutex_);
  throttle_ = std::clamp(share, 0.0, 0.99);
}

double TransferPort::throttle() const {
  std::lock_guard lock(mutex_);
  return throttle_;
}

void TransferPort::close(const std::string& reason) {
  {
    std::lock_guard lock(mutex_);
    if (!closed_) closed_ = reason;
    stopped_ = false;
  }
  changed_.notify_all();
}

void TransferPort::serve_take_dirty() {
  dirty_result_ = vm_.dirty_pages(Vm::DirtyReader::kTransfer);
  request_ = Request::kNone;
  changed_.notify_all();
}

void TransferPort::serve_stop(const VcpuRunner& runner, std::unique_lock<std::mutex>& lock) {
  stop_result_ = capture_stopped(vm_, runner, unfinished_disk_requests_);
  stopped_ = stop_result_.ok();
  request_ = Request::kNone;
  changed_.notify_all();
  changed_.wait(lock, [this] { return !stopped_; });
}

bool TransferPort::may_stop_at(const VcpuRunner& runner, const BetweenExits& at) {
  if (at.asynchronous || at.halted) return false;
  // Console input waiting outside the UART travels with the state, up to a bound.
  return runner.platform().pending_input_bytes() <= channel::kMaxTransferredConsoleInputBytes;
}

void TransferPort::serve(const VcpuRunner& runner, const BetweenExits& at) {
  {
    std::unique_lock lock(mutex_);
    if (finished_) {
      vm_.stop_reading_dirty_pages(Vm::DirtyReader::kTransfer);
      finished_ = false;
    }
    if (request_ == Request::kTakeDirty) serve_take_dirty();
    if (request_ == Request::kStop && may_stop_at(runner, at)) serve_stop(runner, lock);
  }
  hold_for_throttle();
}

void TransferPort::hold_for_throttle() {
  const double share = throttle();
  const auto now = std::chrono::steady_clock::now();
  if (share > 0) {
    // Held for share/(1-share) of the time it ran since the last turn: `share` of the whole.
    const auto ran = now - last_served_;
    const auto hold = std::min<std::chrono::steady_clock::duration>(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(ran *
                                                                        (share / (1 - share))),
        kMaxHold);
    std::this_thread::sleep_for(hold);
  }
  last_served_ = std::chrono::steady_clock::now();
}

}  // namespace ftvm
