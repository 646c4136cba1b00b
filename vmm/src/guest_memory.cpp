#include "vmm/guest_memory.h"

#include <fmt/format.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace ftvm {

Result<GuestMemory> GuestMemory::allocate(uint64_t bytes) {
  constexpr uint64_t kPage = 4096;
  if (bytes == 0 || bytes % kPage != 0) {
    return make_error(
        fmt::format("guest memory size {} is not a positive multiple of 4 KiB", bytes));
  }
  void* address = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (address == MAP_FAILED) {
    return make_error(fmt::format("cannot allocate {} MiB of guest memory: {}", bytes >> 20,
                                  std::strerror(errno)));
  }
  // Guest RAM is large and mostly sparse; huge pages keep the EPT and dirty bitmaps small.
  ::madvise(address, bytes, MADV_HUGEPAGE);
  return GuestMemory(Mapping(address, bytes));
}

bool GuestMemory::contains(uint64_t gpa, uint64_t length) const {
  return gpa <= size() && length <= size() - gpa;
}

Result<std::span<uint8_t>> GuestMemory::span(uint64_t gpa, uint64_t length) const {
  if (!contains(gpa, length)) {
    return make_error(fmt::format(
        "guest-physical range {:#x}+{:#x} is outside guest RAM (0..{:#x})", gpa, length, size()));
  }
  return std::span<uint8_t>(host_base() + gpa, length);
}

Result<void> GuestMemory::write(uint64_t gpa, std::span<const uint8_t> bytes) const {
  auto target = span(gpa, bytes.size());
  if (!target) return target.error();
  std::memcpy(target->data(), bytes.data(), bytes.size());
  note_host_write(gpa, bytes.size());
  return {};
}

void GuestMemory::log_host_writes() {
  if (!host_writes_) host_writes_ = std::make_unique<HostWriteLog>(size());
}

std::vector<uint64_t> GuestMemory::take_host_written_pages() const {
  return host_writes_ ? host_writes_->take() : std::vector<uint64_t>{};
}

Result<void> GuestMemory::read(uint64_t gpa, std::span<uint8_t> out) const {
  auto source = span(gpa, out.size());
  if (!source) return source.error();
  std::memcpy(out.data(), source->data(), out.size());
  return {};
}

}  // namespace ftvm
