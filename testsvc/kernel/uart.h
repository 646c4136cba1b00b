// 16550A UART on COM1 (abi::kCom1Base, IRQ abi::kIrqCom1).
//
// Output is polled (wait for THR empty, write THR). Input is interrupt driven: the IRQ handler
// drains the receiver into a ring and wakes the thread blocked in ReadByte().
#pragma once

#include <stdint.h>

namespace testsvc::kernel::uart {

// 115200 8N1, FIFOs on (receive trigger level 1 byte), receive interrupt enabled, OUT2 set so
// the IRQ line reaches the PIC.
void Init();

// Waits until the transmitter holding register is empty, then writes `byte`.
void PutByte(uint8_t byte);

// IRQ handler body (interrupts disabled).
void OnInterrupt();

// Blocks the calling thread until a received byte is available; one reader at a time.
uint8_t ReadByte();

uint64_t RxBytes();    // bytes received (including dropped ones)
uint64_t RxDropped();  // bytes dropped because the ring was full

}  // namespace testsvc::kernel::uart
