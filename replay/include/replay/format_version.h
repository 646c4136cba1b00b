// The version of the trace format: the header, the chunk framing and the entry encodings of
// docs/trace-format.md, which change together. Bump it on any change to how bytes are laid
// out or read; a reader refuses a version it does not know rather than misread it.
#pragma once

#include <cstdint>

namespace ftvm::replay {

// 2: block-completion entries, and the disk in the header.
// 3: counted landmarks, and the vCPU backend in the header.
// 4: net-frame entries, and the network card's MAC in the header.
// 5: breakpoint landmarks with a memory digest (a flag in the entry's type byte).
// 6: whether interrupts were delivered at the interrupt-window exit, in the header.
inline constexpr uint32_t kTraceFormatVersion = 6;

}  // namespace ftvm::replay
