// A guest driver's side of the virtio-mmio transport, for the device tests and fuzz bodies: the
// 32-bit register accesses and the start-up sequence (reset, ACKNOWLEDGE and DRIVER, features,
// FEATURES_OK, each queue's size and addresses, DRIVER_OK) that every driver goes through.
// Header-only, so a fuzz target built on its own can use it too.
#pragma once

#include <cstdint>
#include <initializer_list>

#include "vmm/devices/virtio_mmio.h"

namespace ftvm::testing {

inline void write_register(VirtioMmio& transport, uint64_t offset, uint32_t value) {
  transport.write(offset, {reinterpret_cast<const uint8_t*>(&value), 4});
}

inline uint32_t read_register(VirtioMmio& transport, uint64_t offset) {
  uint32_t value = 0;
  transport.read(offset, {reinterpret_cast<uint8_t*>(&value), 4});
  return value;
}

// Where one queue's three parts lie in guest RAM.
struct QueueRings {
  uint64_t descriptors = 0;
  uint64_t driver = 0;
  uint64_t device = 0;
};

// Starts the device with `features` (VERSION_1 is added) and queues 0, 1, ... at `rings`, each
// of `queue_size` entries. Whether it became active is the transport's to say.
inline void start_device(VirtioMmio& t, uint64_t features, std::initializer_list<QueueRings> rings,
                         uint16_t queue_size) {
  write_register(t, VirtioMmio::kStatus, 0);
  write_register(t, VirtioMmio::kStatus,
                 VirtioMmio::kStatusAcknowledge | VirtioMmio::kStatusDriver);
  features |= VirtioMmio::kFeatureVersion1;
  write_register(t, VirtioMmio::kDriverFeaturesSel, 0);
  write_register(t, VirtioMmio::kDriverFeatures, static_cast<uint32_t>(features));
  write_register(t, VirtioMmio::kDriverFeaturesSel, 1);
  write_register(t, VirtioMmio::kDriverFeatures, static_cast<uint32_t>(features >> 32));
  const uint32_t negotiated =
      VirtioMmio::kStatusAcknowledge | VirtioMmio::kStatusDriver | VirtioMmio::kStatusFeaturesOk;
  write_register(t, VirtioMmio::kStatus, negotiated);
  uint32_t index = 0;
  for (const QueueRings& queue : rings) {
    write_register(t, VirtioMmio::kQueueSel, index++);
    write_register(t, VirtioMmio::kQueueNum, queue_size);
    write_register(t, VirtioMmio::kQueueDescLow, static_cast<uint32_t>(queue.descriptors));
    write_register(t, VirtioMmio::kQueueDriverLow, static_cast<uint32_t>(queue.driver));
    write_register(t, VirtioMmio::kQueueDeviceLow, static_cast<uint32_t>(queue.device));
    write_register(t, VirtioMmio::kQueueReady, 1);
  }
  write_register(t, VirtioMmio::kStatus, negotiated | VirtioMmio::kStatusDriverOk);
}

}  // namespace ftvm::testing
