// Decoding of MC146818 RTC time registers. Pure and header-only.
#pragma once

#include <stdint.h>

namespace testsvc::kernel {

// CMOS register indices and status bits.
inline constexpr uint8_t kRtcRegSeconds = 0x00;
inline constexpr uint8_t kRtcRegMinutes = 0x02;
inline constexpr uint8_t kRtcRegHours = 0x04;
inline constexpr uint8_t kRtcRegDay = 0x07;
inline constexpr uint8_t kRtcRegMonth = 0x08;
inline constexpr uint8_t kRtcRegYear = 0x09;
// Not on every RTC (an ACPI FADT field names it on PCs); DecodeRtc copes with garbage there.
inline constexpr uint8_t kRtcRegCentury = 0x32;
inline constexpr uint8_t kRtcRegStatusA = 0x0a;
inline constexpr uint8_t kRtcRegStatusB = 0x0b;
inline constexpr uint8_t kRtcStatusAUpdateInProgress = 0x80;
inline constexpr uint8_t kRtcStatusB24Hour = 0x02;
inline constexpr uint8_t kRtcStatusBBinary = 0x04;
inline constexpr uint8_t kRtcHoursPm = 0x80;  // in 12-hour mode

// The time registers exactly as read (BCD or binary, 12- or 24-hour, per status B).
struct RtcRegisters {
  uint8_t seconds = 0;
  uint8_t minutes = 0;
  uint8_t hours = 0;
  uint8_t day = 0;
  uint8_t month = 0;
  uint8_t year = 0;     // two digits
  uint8_t century = 0;  // 19..29 if the RTC has a century register; anything else means 20
};

constexpr bool operator==(const RtcRegisters& a, const RtcRegisters& b) {
  return a.seconds == b.seconds && a.minutes == b.minutes && a.hours == b.hours && a.day == b.day &&
         a.month == b.month && a.year == b.year;
}

struct DateTime {
  uint16_t year = 0;
  uint8_t month = 0;
  uint8_t day = 0;
  uint8_t hour = 0;  // 0..23
  uint8_t minute = 0;
  uint8_t second = 0;
};

constexpr uint8_t BcdToBinary(uint8_t bcd) {
  return static_cast<uint8_t>((bcd >> 4) * 10 + (bcd & 0x0f));
}

constexpr DateTime DecodeRtc(const RtcRegisters& raw, uint8_t status_b) {
  const bool binary = (status_b & kRtcStatusBBinary) != 0;
  const bool hours_24 = (status_b & kRtcStatusB24Hour) != 0;
  auto value = [binary](uint8_t v) { return binary ? v : BcdToBinary(v); };

  DateTime t;
  const uint8_t century = value(raw.century);
  const bool century_valid = century >= 19 && century <= 29;
  t.year = static_cast<uint16_t>((century_valid ? century * 100 : 2000) + value(raw.year));
  t.month = value(raw.month);
  t.day = value(raw.day);
  t.minute = value(raw.minutes);
  t.second = value(raw.seconds);
  if (hours_24) {
    t.hour = value(raw.hours);
  } else {
    // 12-hour mode: 12 AM is midnight (0), 12 PM is noon (12).
    const bool pm = (raw.hours & kRtcHoursPm) != 0;
    const uint8_t hour12 = value(static_cast<uint8_t>(raw.hours & ~kRtcHoursPm));
    t.hour = static_cast<uint8_t>(hour12 % 12 + (pm ? 12 : 0));
  }
  return t;
}

}  // namespace testsvc::kernel
