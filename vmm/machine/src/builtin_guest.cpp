#include "machine/builtin_guest.h"

extern "C" const uint8_t ftvm_builtin_guest_start[];
extern "C" const uint8_t ftvm_builtin_guest_end[];

namespace ftvm {

std::span<const uint8_t> builtin_guest_image() {
  return {ftvm_builtin_guest_start, ftvm_builtin_guest_end};
}

}  // namespace ftvm
