// The cascaded pair of Intel 8259A programmable interrupt controllers of a PC/AT: the master at
// ports 0x20/0x21 and the slave at 0xa0/0xa1, whose INT output drives the master's IR2.
//
// Supported: the ICW1-ICW4 initialization sequence (edge or level triggering from LTIM, single or
// cascade mode, ICW4 optional, auto-EOI, special fully nested mode), OCW1 masks, every OCW2
// command (non-specific, specific and rotating EOIs, rotate in auto-EOI, set priority), OCW3
// (IRR/ISR read select, special mask mode, poll).
//
// Modelling choices a guest could observe:
// - Power-on: every line is masked (IMR 0xff) and the vector base is 0, so a chip the guest has
//   not initialized yet delivers nothing. (The real chip's power-on state is undefined.)
// - A chip delivers nothing while it is in the middle of its initialization sequence.
// - Edge mode latches a request on the rising edge and keeps it after the line falls (the real
//   chip needs the line held until INTA); that is what lets devices pulse their lines.
// - Vectors are always 8086-mode vectors (ICW4 uPM, BUF and M/S are stored but not acted on);
//   the slave's ICW3 identity is stored but not compared with the cascade address.
// - On the AT the ISA IRQ2 pin is wired to the slave's IR1, so set_irq_level(2, ...) drives IRQ9.
// - The slave's INT output drops while the slave is acknowledged (INTA or poll), so when it still
//   has a request (an auto-EOI slave with several) the master latches a new edge on IR2 rather
//   than losing it.
#pragma once

#include <cstdint>

#include "vmm/devices/byte_io_device.h"
#include "vmm/devices/irq.h"

namespace ftvm {

enum class PicInitStep : uint8_t { kReady, kExpectIcw2, kExpectIcw3, kExpectIcw4 };

// Every register of one 8259A, as a plain struct so snapshots can copy it.
struct Pic8259ChipState {
  uint8_t irr = 0;              // interrupt request register
  uint8_t isr = 0;              // in-service register
  uint8_t imr = 0xff;           // interrupt mask register (OCW1)
  uint8_t line_levels = 0;      // current level of each IR input, for edge detection
  uint8_t vector_base = 0;      // ICW2 with the low three bits cleared
  uint8_t icw3 = 0;             // master: bitmap of inputs with a slave; slave: its identity
  uint8_t icw4 = 0;             // raw, for the bits that only matter to real hardware
  uint8_t lowest_priority = 7;  // the line with the lowest priority; rotation moves it
  PicInitStep init_step = PicInitStep::kReady;
  bool icw4_expected = false;
  bool single = false;  // ICW1 SNGL: no slave attached
  bool level_triggered = false;
  bool auto_eoi = false;
  bool rotate_on_auto_eoi = false;
  bool special_fully_nested = false;
  bool special_mask = false;
  bool read_isr = false;  // command-port reads return the ISR instead of the IRR
  bool poll = false;      // the next read is the answer to a poll command
};

struct PicState {
  Pic8259ChipState master;
  Pic8259ChipState slave;
};

class PicPair final : public IrqSink {
 public:
  PicPair();
  PicPair(const PicPair&) = delete;  // the port devices point back at their pair
  PicPair& operator=(const PicPair&) = delete;

  // Two ports each: offset 0 = command (ICW1, OCW2, OCW3; reads IRR/ISR/poll), 1 = data.
  IoDevice& master_io() { return master_ports_; }
  IoDevice& slave_io() { return slave_ports_; }

  // irq 0-7 on the master, 8-15 on the slave; others are ignored.
  void set_irq_level(uint8_t irq, bool high) override;

  // The INT line to the CPU.
  bool interrupt_pending() const;
  // The INTA cycle: the vector to inject. Moves the request from IRR to ISR (unless auto-EOI) on
  // the master and, through IRQ2, on the slave. When no request is left, it returns the master's
  // spurious IRQ7 vector (no ISR bit set), or the slave's IRQ15 vector (master IS2 set, as on
  // real hardware, so the handler must still EOI the master).
  uint8_t acknowledge();

  PicState save() const { return state_; }
  // Installs a snapshot; drives no line (the state already holds every line's level).
  void restore(const PicState& state);

 private:
  class ChipPorts final : public ByteIoDevice {
   public:
    ChipPorts(PicPair& pair, bool is_master) : pair_(pair), is_master_(is_master) {}

   protected:
    uint8_t read_byte(uint64_t offset) override;
    void write_byte(uint64_t offset, uint8_t value) override;

   private:
    PicPair& pair_;
    bool is_master_;
  };

  uint8_t read_port(Pic8259ChipState& chip, uint64_t offset);
  void write_port(Pic8259ChipState& chip, uint64_t offset, uint8_t value);
  uint8_t answer_poll(Pic8259ChipState& chip);
  void acknowledge_line(Pic8259ChipState& chip, uint8_t line);
  bool slave_attached() const;
  void update_cascade();

  PicState state_;
  ChipPorts master_ports_{*this, true};
  ChipPorts slave_ports_{*this, false};
};

}  // namespace ftvm
