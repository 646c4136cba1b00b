// A National Semiconductor 16550A UART, the PC's COM port.
//
// Transmission is instant: each THR write goes straight to the ConsoleSink, so THR and the
// transmitter are always empty. Reception is an event: receive() pushes bytes into the RX FIFO
// at a recorded guest position.
//
// Supported: RBR/THR, IER, IIR/FCR (16-byte FIFOs, FIFO bits in IIR, RX trigger levels 1/4/8/14,
// FIFO resets), LCR with DLAB and the divisor latch, MCR including loopback, LSR (DR, OE, THRE,
// TEMT), MSR (with delta bits; loopback routes DTR/RTS/OUT1/OUT2 to DSR/CTS/RI/DCD), SCR;
// interrupt identification with the datasheet priorities.
//
// Modelling choices a guest could observe:
// - The character timeout interrupt (IIR 0xC) is reported as soon as the FIFO holds data below
//   the trigger level, instead of after four character times: there are no character times.
// - The line is always connected: outside loopback, MSR reports CTS, DSR and DCD on, RI off.
// - Parity, framing and break errors never happen; the divisor, word length, parity and break
//   settings are stored but change nothing. LSR and MSR writes are ignored.
// - The IRQ line is high while an enabled interrupt is pending and MCR OUT2 is set, as PCs gate
//   it; in loopback the OUT2 pin is forced inactive, so the line stays low.
// - In loopback the receiver is disconnected from the outside: receive() accepts nothing and
//   rx_space() is 0, so the caller keeps the input until the guest leaves loopback.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "vmm/devices/byte_io_device.h"
#include "vmm/devices/console.h"
#include "vmm/devices/irq.h"

namespace ftvm {

inline constexpr size_t kUartFifoBytes = 16;

// Every register and the RX FIFO, as a plain struct so snapshots can copy it.
struct UartState {
  std::array<uint8_t, kUartFifoBytes> rx_fifo{};
  uint8_t rx_head = 0;   // index of the oldest byte
  uint8_t rx_count = 0;  // bytes in the FIFO (at most 1 while FIFOs are disabled)
  uint8_t last_rx = 0;   // what RBR reads when the FIFO is empty
  uint8_t ier = 0;
  uint8_t lcr = 0;
  uint8_t mcr = 0;
  uint8_t lsr_errors = 0;  // OE, PE, FE, BI: cleared by reading LSR
  uint8_t msr = 0xb0;      // DCD, DSR, CTS on; the low nibble holds the delta bits
  uint8_t scr = 0;
  uint8_t dll = 12;  // 9600 baud, as a BIOS leaves it
  uint8_t dlm = 0;
  bool fifo_enabled = false;
  uint8_t rx_trigger = 1;     // bytes; one of 1, 4, 8, 14
  bool thre_pending = false;  // the THR-empty interrupt condition
  bool irq_level = false;
};

// 8 ports: offsets 0-7 = RBR/THR/DLL, IER/DLM, IIR/FCR, LCR, MCR, LSR, MSR, SCR.
class Uart16550 final : public ByteIoDevice {
 public:
  Uart16550(ConsoleSink& out, IrqLine irq);

  // Input from the outside: pushes as many bytes as the RX FIFO has room for and returns how
  // many that was; the caller keeps the rest for later.
  size_t receive(std::span<const uint8_t> bytes);
  // Input that cannot wait (a real wire): every byte is received, and one that finds the FIFO
  // full is an overrun (LSR OE): in FIFO mode it is lost, in 16450 mode it replaces RBR. In
  // loopback every byte is lost, the serial input being disconnected from the receiver.
  void receive_with_overrun(std::span<const uint8_t> bytes);
  size_t rx_space() const;
  // RTS/CTS flow control, seen from the sending side: the guest asserts RTS (MCR bit 1) when
  // it is ready to receive. Senders that must not lose bytes (the console input backend) wait
  // for it, so input typed before the guest has set up its UART is not dropped by the FIFO
  // resets of that set-up.
  bool request_to_send() const;

  UartState save() const { return state_; }
  // Installs a snapshot; drives no line (the interrupt controller's snapshot holds the level).
  void restore(const UartState& state);

 protected:
  uint8_t read_byte(uint64_t offset) override;
  void write_byte(uint64_t offset, uint8_t value) override;

 private:
  bool dlab() const;
  bool loopback() const;
  size_t rx_capacity() const;
  uint8_t pop_rx();
  void push_rx(uint8_t byte);
  void clear_rx();
  uint8_t read_iir();
  uint8_t read_lsr();
  uint8_t read_msr();
  uint8_t pending_interrupt() const;
  void write_thr(uint8_t value);
  void write_ier(uint8_t value);
  void write_fcr(uint8_t value);
  void write_mcr(uint8_t value);
  void update_irq();

  ConsoleSink& out_;
  IrqLine irq_;
  UartState state_;
};

}  // namespace ftvm
