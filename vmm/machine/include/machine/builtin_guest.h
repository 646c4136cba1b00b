#pragma once

#include <cstdint>
#include <span>

namespace ftvm {

// The ELF image of the testsvc guest built with this ftvm.
std::span<const uint8_t> builtin_guest_image();

}  // namespace ftvm
