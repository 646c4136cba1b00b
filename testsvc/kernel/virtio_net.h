// The guest's virtio-net driver (virtio 1.x over MMIO, at abi::kVirtioNetGpa, IRQ
// abi::kIrqVirtioNet): the MAC from config space, one receive and one transmit queue of
// kQueueSize entries each, no offloads. Every buffer on either queue starts with the 12-byte
// virtio_net_hdr (virtio 1.2, 5.1.6), which stays inside this driver: callers see Ethernet
// frames without FCS, of at most kMaxFrameBytes.
//
// Receive: every receive buffer holds a whole frame (there are no mergeable buffers) and is
// always offered to the device, except while a caller looks at the frame in it. Transmit: Send
// copies the frame into one of kQueueSize transmit buffers; the device returns a buffer as it
// takes the frame (the VMM does that at the notification), and Send reclaims them.
//
// All but OnInterrupt are for one thread (the net thread), with interrupts enabled.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace testsvc::kernel::virtio_net {

inline constexpr size_t kMacBytes = 6;
inline constexpr size_t kMaxFrameBytes = 1514;  // Ethernet, MTU 1500, without FCS
inline constexpr uint16_t kQueueSize = 32;

// Looks for the card and sets it up; false when there is none (or it refused the driver).
bool Init();
bool Present();
// The card's MAC address (config space); zeros without a card.
const uint8_t* Mac();

// Queues `frame` (`size` bytes, 1 to kMaxFrameBytes) for transmission. False if the card is
// absent or broken, the size is out of range, or every transmit buffer is still the device's.
bool Send(const uint8_t* frame, size_t size);

// Hands every frame the device has filled since the last call, oldest first, to `handler`
// (which may Send), then offers the buffers to the device again. Returns how many. A frame the
// device filled with less than a virtio_net_hdr, or more than a buffer, arrives with size 0.
using FrameHandler = void (*)(const uint8_t* frame, size_t size);
size_t ReceiveAll(FrameHandler handler);

// Blocks the calling thread until the device has filled a receive buffer that ReceiveAll has
// not handed out yet, or until the tick `until` if that is not 0 (the TCP timers' next
// deadline). Forever if the card is absent or broken and `until` is 0.
void WaitForFrames(uint64_t until = 0);

// The IRQ handler's part: acknowledges the device and wakes the waiting thread.
void OnInterrupt();

}  // namespace testsvc::kernel::virtio_net
