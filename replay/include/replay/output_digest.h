// A console backend decorator that digests every byte the guest outputs, so a recording can
// log, and a replay check, what an observer of the guest would have seen.
#pragma once

#define XXH_STATIC_LINKING_ONLY  // for XXH3_state_t on the stack
#include <xxhash.h>

#include <cstdint>

#include "vmm/devices/console.h"

namespace ftvm::replay {

class DigestingConsole final : public ConsoleSink {
 public:
  explicit DigestingConsole(ConsoleSink& next) : next_(next) { XXH3_64bits_reset(&state_); }
  void write(std::span<const uint8_t> bytes) override {
    XXH3_64bits_update(&state_, bytes.data(), bytes.size());
    bytes_ += bytes.size();
    next_.write(bytes);
  }
  // The digest starts again here, the byte count goes on from `bytes`: both ends of a pair
  // formed by a state transfer do this at the handover, so that the digests they compare
  // cover what the guest said since (docs/failover.md, "Re-protection").
  void restart_digest(uint64_t bytes) {
    XXH3_64bits_reset(&state_);
    bytes_ = bytes;
  }
  uint64_t bytes() const { return bytes_; }
  uint64_t digest() const { return XXH3_64bits_digest(&state_); }

 private:
  ConsoleSink& next_;
  XXH3_state_t state_;
  uint64_t bytes_ = 0;
};

}  // namespace ftvm::replay
