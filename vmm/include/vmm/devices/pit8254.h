// The Intel 8254 programmable interval timer of a PC: three 16-bit down counters clocked at
// 1.193182 MHz; channel 0's OUT drives IRQ0.
//
// Counts are not ticked: a channel remembers when its count was loaded (TimeSource monotonic
// time, read when the guest writes a count) and derives the current count from the clock when
// the guest reads or latches it. Interrupts are not raised from a host timer either: the VMM
// asks timer_schedule() when channel 0 expires, and applies each expiry as an event
// (expire()), so recording and replay deliver it at the same guest position.
//
// Supported: control words for every channel, access modes lobyte/hibyte/lobyte-then-hibyte,
// the counter latch command, the read-back command (count and status latches, status first),
// modes 0 (interrupt on terminal count), 2 (rate generator) and 3 (square wave) exactly, an
// initial count of 0 meaning 65536.
//
// Modelling choices a guest could observe:
// - Mode 1 and 5 wait for a gate trigger that never comes on channel 0 (its gate is tied
//   high), so they are started by the count write instead: mode 1 counts like mode 0 and mode
//   5 like mode 4. Mode 4 counts like mode 0 and pulses OUT once at terminal count. Modes 6
//   and 7 are modes 2 and 3, as the datasheet says; status reports the mode bits as written.
// - BCD counting is accepted and reported in the status byte, but counts are binary.
// - A new count written while a mode 2/3 channel is counting takes effect at once instead of
//   at the end of the current period.
// - A channel that is not counting (after a control word, before its count) reads as its last
//   initial count.
// - All gates are high (channel 2's gate, port 0x61, is not modelled).
// - Channels 1 and 2 count and can be read, but drive no interrupt.
#pragma once

#include <array>
#include <cstdint>

#include "vmm/devices/byte_io_device.h"
#include "vmm/devices/irq.h"
#include "vmm/devices/time_source.h"

namespace ftvm {

struct PitTimerSchedule {
  bool armed;
  // TimeSource monotonic time of the first expiry after the count was loaded: the first
  // nanosecond by which the count has reached its terminal count.
  uint64_t first_expiry_ns;
  // 0 = one-shot. Rounded up to whole nanoseconds, so first + k * period drifts late by under
  // k ns; counts read by the guest always come from the clock, never from this schedule.
  uint64_t period_ns;
  uint64_t generation;
};

// Every register of one counter, as a plain struct so snapshots can copy it.
struct PitChannelState {
  uint8_t mode = 0;            // as written (0-7)
  uint8_t access = 3;          // 1 lobyte, 2 hibyte, 3 lobyte then hibyte
  bool bcd = false;            // stored and reported; counting is binary
  uint16_t initial_count = 0;  // as written; 0 stands for 65536
  uint64_t load_ns = 0;        // when counting started from initial_count
  bool counting = false;
  bool null_count = true;        // a count was programmed but not loaded yet (status bit 6)
  bool write_high_next = false;  // lobyte-then-hibyte: the next write is the high byte
  uint8_t pending_low = 0;       // the low byte written before the high byte
  bool read_high_next = false;   // lobyte-then-hibyte: the next read is the high byte
  bool count_latched = false;
  uint16_t latched_count = 0;
  bool latch_high_next = false;  // lobyte-then-hibyte latch: the next read is the high byte
  bool status_latched = false;
  uint8_t latched_status = 0;
  bool expired = false;  // one-shot modes: the terminal-count expiry has been applied
};

struct PitState {
  std::array<PitChannelState, 3> channels;
  uint64_t generation = 0;
  bool irq_level = false;
};

// 4 ports: offsets 0-2 = counters 0-2, 3 = control word (write-only, reads 0xff).
class Pit8254 final : public ByteIoDevice {
 public:
  Pit8254(TimeSource& time, IrqLine irq0);

  // When channel 0 needs expire(). generation changes whenever the guest reprograms channel 0
  // (control word, count load, or the first byte of a one-shot count); a schedule with another
  // generation is obsolete. A periodic count of 1 gives a period under a microsecond: the caller
  // is expected to coalesce expiries it cannot deliver in time (the PIC latches only one).
  PitTimerSchedule timer_schedule() const;
  // One channel-0 expiry: modes 2/3 (and 6/7) pulse IRQ0; modes 0/1 raise OUT (an IRQ0 rising
  // edge) and modes 4/5 pulse it, once per count. Ignored if `generation` is stale.
  void expire(uint64_t generation);

  PitState save() const { return state_; }
  // Installs a snapshot; drives no line (the interrupt controller's snapshot holds the level).
  void restore(const PitState& state);

 protected:
  uint8_t read_byte(uint64_t offset) override;
  void write_byte(uint64_t offset, uint8_t value) override;

 private:
  uint8_t read_counter(PitChannelState& channel);
  void write_counter(uint8_t index, uint8_t value);
  void write_control(uint8_t value);
  void program_channel(uint8_t index, uint8_t control);
  void latch_count(PitChannelState& channel, uint64_t now_ns);
  void latch_status(PitChannelState& channel, uint64_t now_ns);
  void read_back(uint8_t command);
  void load_count(uint8_t index, uint16_t count);
  void stop_counting(uint8_t index);
  void channel0_reprogrammed();
  void set_irq(bool high);

  TimeSource& time_;
  IrqLine irq0_;
  PitState state_;
};

}  // namespace ftvm
