// The body of virtio-net's fuzz target, as a plain function (the libFuzzer entry point calls
// it; a unit test runs it over seeds and their mutations). The input is what a hostile driver
// and the host network together can do: byte 0 picks the queue sizes (1 to 32), byte 1 how many
// frames arrive from the host and bytes 2.. their lengths (0 to 2047, two bytes each), the rest
// fills guest RAM from address 0 (both queues' descriptor tables and rings lie in the first
// 16 KiB). The device is started through its registers, both queues are notified, the frames
// are received and both queues are notified again. Every frame handed to the sink must be a
// whole Ethernet frame at most; nothing may crash; a broken device must say why.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ftvm {

int fuzz_virtio_net(const uint8_t* data, size_t size);

// A working exchange (a transmitted frame, receive buffers, a received frame) and broken ones.
std::vector<std::vector<uint8_t>> virtio_net_fuzz_seeds();

}  // namespace ftvm
