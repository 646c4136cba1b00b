// The guest's virtio-blk driver (virtio 1.x over MMIO, at abi::kVirtioBlkGpa): one queue of
// kQueueSize entries, one request at a time. The caller blocks until the device completes the
// request (its IRQ wakes it). Several threads may issue requests (the disk workload, the net
// thread writing the service's log): they take turns, in the order they came.
#pragma once

#include <stdint.h>

namespace testsvc::kernel::virtio_blk {

// Looks for the disk and sets it up; false when there is none (or it refused the driver).
bool Init();
bool Present();
uint64_t Sectors();

// 0 on success, else the virtio-blk status (1 I/O error, 2 unsupported) or kBroken when the
// device needs a reset. From any thread (not an IRQ handler), with interrupts enabled.
inline constexpr uint8_t kBroken = 0xff;
uint8_t Read(uint64_t sector, uint8_t* buffer, uint32_t bytes);
uint8_t Write(uint64_t sector, const uint8_t* buffer, uint32_t bytes);
uint8_t Flush();

// The IRQ handler's part: acknowledges the device and wakes the waiting thread.
void OnInterrupt();

}  // namespace testsvc::kernel::virtio_blk
