// Guest RAM: one anonymous mapping that KVM maps at guest-physical address 0.
//
// Every access by guest-physical address goes through span(), which checks the whole range
// (including integer overflow of gpa + length) against the RAM size. Guest-controlled
// addresses (ELF headers, page tables, later virtio descriptors) are never dereferenced
// without it.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <type_traits>

#include "vmm/host_write_log.h"
#include "vmm/mapping.h"
#include "vmm/result.h"

namespace ftvm {

class GuestMemory {
 public:
  static Result<GuestMemory> allocate(uint64_t bytes);

  uint64_t size() const { return mapping_.size(); }
  uint8_t* host_base() const { return mapping_.data(); }

  bool contains(uint64_t gpa, uint64_t length) const;
  Result<std::span<uint8_t>> span(uint64_t gpa, uint64_t length) const;

  Result<void> write(uint64_t gpa, std::span<const uint8_t> bytes) const;
  Result<void> read(uint64_t gpa, std::span<uint8_t> out) const;

  template <typename T>
  Result<void> write_object(uint64_t gpa, const T& value) const {
    static_assert(std::is_trivially_copyable_v<T>);
    return write(gpa, {reinterpret_cast<const uint8_t*>(&value), sizeof(T)});
  }

  // From now on write() and note_host_write() log the pages they change (host_write_log.h),
  // for take_host_written_pages().
  void log_host_writes();
  // A write into RAM that did not go through write() (a device's ring stores).
  void note_host_write(uint64_t gpa, uint64_t length) const {
    if (host_writes_) host_writes_->mark(gpa, length);
  }
  // The pages the VMM wrote since the last call (none unless log_host_writes()), ascending.
  std::vector<uint64_t> take_host_written_pages() const;

 private:
  explicit GuestMemory(Mapping mapping) : mapping_(std::move(mapping)) {}
  Mapping mapping_;
  std::unique_ptr<HostWriteLog> host_writes_;
};

}  // namespace ftvm
