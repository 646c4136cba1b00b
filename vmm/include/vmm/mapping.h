// Owns an mmap'd region; unmaps it exactly once.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace ftvm {

class Mapping {
 public:
  Mapping() = default;
  Mapping(void* address, size_t length) : address_(address), length_(length) {}
  Mapping(Mapping&& other) noexcept
      : address_(std::exchange(other.address_, nullptr)),
        length_(std::exchange(other.length_, 0)) {}
  Mapping& operator=(Mapping&& other) noexcept {
    if (this != &other) {
      release();
      address_ = std::exchange(other.address_, nullptr);
      length_ = std::exchange(other.length_, 0);
    }
    return *this;
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { release(); }

  uint8_t* data() const { return static_cast<uint8_t*>(address_); }
  size_t size() const { return length_; }
  bool valid() const { return address_ != nullptr; }

 private:
  void release() {
    if (address_ != nullptr) ::munmap(address_, length_);
    address_ = nullptr;
    length_ = 0;
  }
  void* address_ = nullptr;
  size_t length_ = 0;
};

}  // namespace ftvm
