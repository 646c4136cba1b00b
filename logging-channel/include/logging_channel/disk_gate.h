// The output rule for the disk: on a protected primary a write, flush, discard or write-zeroes
// is an output, like console bytes. It reaches the disk only once the backup has acknowledged
// the log up to the exit that submitted it (and while the primary's lease runs), so a backup
// that takes over has every write the disk may hold in its log, and can issue again the ones
// that did not complete. Reads change nothing outside: they go to the disk at once, except one
// that overlaps a write still held or in flight, which waits for that write's completion, so
// it never reads around it.
//
// Thread-safe: the vCPU thread submits, tags and completes; the link thread releases on acks.
// The disk's submit() must not block (FileBlockBackend and NbdBlockBackend only queue).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "logging_channel/held_output.h"
#include "logging_channel/held_queue.h"
#include "vmm/devices/block_request.h"

namespace ftvm::channel {

class DiskGate final : public BlockBackend, public HeldOutput {
 public:
  // `lease_holds` says whether output may leave now (OutputGate::lease_holds); both gates follow
  // the same lease.
  DiskGate(BlockBackend& disk, std::function<bool()> lease_holds);

  // vCPU thread, during the exit that submitted `request`.
  void submit(BlockRequest request) override;
  // vCPU thread: the device applied `id`'s completion; reads waiting for it may go.
  void completed(uint64_t id) override;
  // HeldOutput: the writes an exit submitted wait for its tag's acknowledgement and are then
  // issued in submission order; open() issues everything held; after discard() nothing more
  // reaches the disk.
  bool tag(uint64_t required_lsn) override;
  void release_through(uint64_t acked_lsn) override;
  void open() override;
  void protect_again(uint64_t first_lsn) override;
  void discard() override;

  struct Stats {
    uint64_t reads = 0;         // issued
    uint64_t reads_waited = 0;  // of those, after waiting for an overlapping write
    uint64_t writes = 0;        // issued (writes, flushes, discards, zeroings)
    uint64_t held = 0;          // waiting for their ack now
    uint64_t discarded = 0;     // dropped by discard()
  };
  Stats stats() const;

  // Every request submitted and not yet completed, held, waiting or issued, as it was
  // submitted (write data included), by id: what a backup joining now must be able to issue
  // again if it takes over before their completions are logged.
  std::vector<BlockRequest> unfinished() const;

 private:
  enum class Mode { kGated, kOpen, kDiscarding };

  bool overlaps_pending_write(const BlockRequest& read) const;
  void issue_locked(BlockRequest request);
  void release_locked();
  void issue_ready_reads_locked();

  BlockBackend& disk_;
  std::function<bool()> lease_holds_;
  mutable std::mutex mutex_;
  Mode mode_ = Mode::kGated;
  HeldQueue<BlockRequest> writes_;
  // Writes issued and not yet completed, by id: [offset, offset + length) for reads to wait
  // on (a flush covers all), and their data for unfinished().
  std::map<uint64_t, BlockRequest> in_flight_writes_;
  // Reads issued and not yet completed (no data), for unfinished().
  std::map<uint64_t, BlockRequest> in_flight_reads_;
  std::vector<BlockRequest> waiting_reads_;
  Stats stats_;
};

}  // namespace ftvm::channel
