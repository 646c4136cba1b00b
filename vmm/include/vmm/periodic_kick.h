// Kicks a vCPU out of the guest at a fixed period, so its driver gets to look at a guest that
// runs on without exits (a replayer checking for a stall). Stops on destruction.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "vmm/vcpu_runner.h"

namespace ftvm {

class PeriodicKick {
 public:
  PeriodicKick(VcpuRunner& runner, std::chrono::milliseconds period)
      : thread_([this, &runner, period] {
          std::unique_lock lock(mutex_);
          while (!stopped_) {
            if (!wake_.wait_for(lock, period, [this] { return stopped_; })) runner.kick();
          }
        }) {}
  PeriodicKick(const PeriodicKick&) = delete;
  PeriodicKick& operator=(const PeriodicKick&) = delete;
  ~PeriodicKick() { stop(); }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace ftvm
