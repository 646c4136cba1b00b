// The body of the virtqueue walker's fuzz target, as a plain function: the libFuzzer entry
// point calls it, and a unit test runs it over seeds so builds without clang exercise it too.
// The input is guest RAM as a hostile driver left it: the first byte picks the queue size
// (1 to 32), the rest fills RAM from address 0, where the descriptor table lies (the driver
// ring at 0x800, the device ring at 0xc00). Every chain popped must lie in RAM and be no
// longer than the queue; errors must say something; nothing may crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ftvm {

int fuzz_virtqueue(const uint8_t* data, size_t size);

// Valid and broken queues to start mutating from.
std::vector<std::vector<uint8_t>> virtqueue_fuzz_seeds();

}  // namespace ftvm
