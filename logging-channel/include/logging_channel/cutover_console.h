// The backup's console. While the backup replays, the guest's output goes nowhere (the
// primary's copy of it is the one the world sees) but is kept; when the backup goes live it
// first re-emits what the primary may not have released, then passes output straight through.
//
// "May not have released" is measured in bytes of the guest's output stream: the primary tells
// the backup how many bytes it has released (LogChunk/Heartbeat), and replay reproduces the
// same stream byte for byte. Output released after the primary's last word is re-emitted
// again: duplicates at cutover are possible, losses are not.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>

#include "vmm/devices/console.h"

namespace ftvm::channel {

class CutoverConsole final : public ConsoleSink {
 public:
  // `released` says how many bytes the primary has released so far (any thread may update
  // what it returns).
  CutoverConsole(ConsoleSink& live, std::function<uint64_t()> released);

  void write(std::span<const uint8_t> bytes) override;
  // Re-emits the output beyond what the primary released, then passes everything through.
  // Returns the stream offset the re-emitted output starts at.
  uint64_t go_live();
  // A backup that joined a running guest: its output stream starts at byte `offset` (what the
  // guest produced before the state transfer stopped it). Before any write().
  void start_at(uint64_t offset);

  uint64_t produced() const;
  // The offset go_live() resumed at, once live.
  std::optional<uint64_t> resumed_at() const;

 private:
  // The most kept: more than the primary can hold unacknowledged in practice.
  static constexpr size_t kMaxKept = size_t{16} << 20;
  void trim_locked(uint64_t released);

  ConsoleSink& live_;
  std::function<uint64_t()> released_;
  mutable std::mutex mutex_;
  std::deque<uint8_t> kept_;  // the stream from kept_base_ to produced_
  uint64_t kept_base_ = 0;
  uint64_t produced_ = 0;
  std::optional<uint64_t> resumed_at_;
};

}  // namespace ftvm::channel
