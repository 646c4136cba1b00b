// The 8259A PIC pair.
#pragma once

#include <stdint.h>

namespace testsvc::kernel::pic {

// Remaps IRQs 0-7 to abi::kPicMasterVectorBase and 8-15 to abi::kPicSlaveVectorBase
// (edge triggered, cascade on IRQ2, 8086 mode) and masks every IRQ but the timer, the
// cascade, COM1 and the virtio disk and network card.
void Init();

// True for a spurious IRQ 7 or 15 (the PIC raised it but has no request in service). Such an
// interrupt must not get a normal EOI; this function does what it needs instead.
bool HandleSpurious(uint8_t irq);

// Non-specific end of interrupt for `irq` (to the slave, then the master, for IRQs 8-15).
void SendEoi(uint8_t irq);

}  // namespace testsvc::kernel::pic
