// What a block device asks of its storage, and the answer. The request carries its own copy
// of the data to write (a bounce buffer filled at the exit that submitted it), and the
// completion its own copy of the data read: no backend ever touches guest RAM, and read data
// reaches the guest only when the completion is applied, at a point the log records.
#pragma once

#include <cstdint>
#include <vector>

namespace ftvm {

enum class BlockOp : uint8_t { kRead, kWrite, kFlush, kDiscard, kWriteZeroes };

struct BlockRequest {
  uint64_t id = 0;  // numbered in submission order: the same on primary and backup
  BlockOp op = BlockOp::kRead;
  uint64_t offset = 0;        // bytes
  uint32_t length = 0;        // bytes to read, write, discard or zero
  std::vector<uint8_t> data;  // the data to write
  bool operator==(const BlockRequest&) const = default;
};

// virtio-blk status values, which are what the guest is told.
enum class BlockStatus : uint8_t { kOk = 0, kIoError = 1, kUnsupported = 2 };

struct BlockCompletion {
  uint64_t id = 0;
  BlockStatus status = BlockStatus::kOk;
  std::vector<uint8_t> data;  // a read's data, `length` bytes when kOk
};

// Where a device's requests go: the primary's disk, or nowhere (a replay takes completions from
// the log). Called on the vCPU thread at the exit that submitted the request; must not block.
class BlockBackend {
 public:
  virtual ~BlockBackend() = default;
  virtual void submit(BlockRequest request) = 0;
  // The device applied request `id`'s completion (vCPU thread, between exits): from the guest's
  // view it is done. A gate that orders requests, or a backup that must reissue what was not
  // done when it takes over, keeps count with it.
  virtual void completed(uint64_t id) { (void)id; }
};

}  // namespace ftvm
