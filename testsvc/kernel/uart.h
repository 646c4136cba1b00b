// 16550A UART on COM1 (abi::kCom1Base, IRQ abi::kIrqCom1).
//
// Output is polled (wait for THR empty, write THR). Input is interrupt driven: the IRQ handler
// drains the receiver into a ring and wakes the thread blocked in ReadByte(). RTS is turned
// off while the ring is nearly full and on again once the reader has drained half of it, so
// a sender that honours it (ftvm's UART does) never makes the guest drop input.
#pragma once

#include <stdint.h>

namespace testsvc::kernel::uart {

// 115200 8N1, FIFOs on and cleared (receive trigger level 1 byte), DTR, RTS (input may flow
// from here on) and OUT2 (the IRQ line reaches the PIC). Interrupts stay disabled in the UART.
void Init();

// Enables the received-data interrupt. Call once the PIC is programmed: COM1's line is
// edge-triggered, so bytes that arrived before would leave it high with no edge the PIC saw,
// and no interrupt would ever come. This drains them into the receive ring instead.
void EnableInterrupts();

// Waits until the transmitter holding register is empty, then writes `byte`.
void PutByte(uint8_t byte);

// IRQ handler body (interrupts disabled).
void OnInterrupt();

// Blocks the calling thread until a received byte is available; one reader at a time.
uint8_t ReadByte();

uint64_t RxBytes();    // bytes received (including dropped ones)
uint64_t RxDropped();  // bytes dropped because the ring was full

}  // namespace testsvc::kernel::uart
