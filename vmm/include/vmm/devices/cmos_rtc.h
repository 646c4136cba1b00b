// The MC146818-compatible real-time clock and CMOS RAM of a PC: ports 0x70 (index, bit 7 = NMI
// disable) and 0x71 (data).
//
// The clock is never ticked: the time registers are computed from TimeSource::realtime_ns()
// (UTC) plus the guest's offset at the moment the guest reads them, honouring register B's
// binary/BCD and 12/24-hour bits (12-hour: bit 7 of the hour is PM). A guest that sets the
// time (with register B's SET bit, or by writing a time register directly) moves that offset,
// so the time it set keeps running. The sub-second phase is the host's.
//
// Registers: 0x00 seconds, 0x02 minutes, 0x04 hours, 0x06 weekday (1 = Sunday), 0x07 day,
// 0x08 month, 0x09 year, 0x32 century; alarms 0x01/0x03/0x05 (stored, 0xc0-0xff = don't care);
// A (0x0a), B (0x0b), C (0x0c), D (0x0d); the rest is plain CMOS RAM.
//
// Modelling choices a guest could observe:
// - Register A's UIP bit always reads 0: the time is computed at the read, so no update cycle
//   is ever in progress. Its divider and rate bits are stored; the clock always runs.
// - SET (register B bit 7) freezes the time registers at the moment it is written and clears
//   UIE; while it is set, reads return the frozen registers and writes are stored. Clearing it
//   starts the clock from the registers if the guest wrote any of them, else it carries on
//   from host time (real hardware would have lost the time SET was held).
// - No interrupt is ever raised on IRQ8 (no periodic, alarm or update-ended interrupts).
//   Register C's flags are still kept for polling guests: on each read of C, UF/AF/PF report
//   whether an update, an alarm match or a periodic tick happened since the previous read of C
//   (nothing on the first read), IRQF the enabled ones; the read clears them.
// - The weekday register is derived from the date (a weekday written by the guest is only
//   kept while SET is held). Daylight saving (DSE) is stored but never applied.
// - Register D reads 0x80 (valid RAM and time); C and D ignore writes. The index port reads
//   0xff (it is write-only on PCs).
#pragma once

#include <array>
#include <cstdint>

#include "vmm/devices/byte_io_device.h"
#include "vmm/devices/time_source.h"

namespace ftvm {

inline constexpr size_t kCmosBytes = 128;

// The CMOS RAM and clock state, as a plain struct so snapshots can copy it.
struct CmosState {
  // Registers A-D and the RAM. The time registers are only read from here while SET is held.
  std::array<uint8_t, kCmosBytes> ram{};
  uint8_t index = 0;
  bool nmi_disabled = false;
  int64_t guest_offset_s = 0;  // guest time = host realtime + this
  bool time_written_while_set = false;
  // Register C's flags are computed against the previous read of C.
  bool flags_baseline_valid = false;
  int64_t flags_baseline_host_ns = 0;
  int64_t flags_baseline_guest_s = 0;
};

// 2 ports: offset 0 = index, 1 = data.
class CmosRtc final : public ByteIoDevice {
 public:
  explicit CmosRtc(TimeSource& time);

  bool nmi_disabled() const { return state_.nmi_disabled; }

  CmosState save() const { return state_; }
  void restore(const CmosState& state);

 protected:
  uint8_t read_byte(uint64_t offset) override;
  void write_byte(uint64_t offset, uint8_t value) override;

 private:
  uint8_t read_data();
  void write_data(uint8_t value);
  bool set_mode() const;
  bool binary_mode() const;
  bool hour_24_mode() const;
  int64_t guest_seconds(int64_t host_ns) const;
  void freeze_time_registers(int64_t guest_s);
  int64_t time_registers_to_seconds() const;
  uint8_t time_register_at(uint8_t index, int64_t guest_s) const;
  void write_time_register(uint8_t index, uint8_t value);
  void write_register_b(uint8_t value);
  uint8_t read_register_c();
  bool alarm_matched_between(int64_t after_s, int64_t until_s) const;
  int64_t periodic_ticks(int64_t host_ns) const;
  void set_guest_time(int64_t guest_s, int64_t host_ns);

  TimeSource& time_;
  CmosState state_;
};

}  // namespace ftvm
