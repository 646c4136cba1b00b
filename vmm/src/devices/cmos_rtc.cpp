#include "vmm/devices/cmos_rtc.h"

#include <algorithm>
#include <chrono>

namespace ftvm {
namespace {

enum CmosIndex : uint8_t {
  kSeconds = 0x00,
  kSecondsAlarm = 0x01,
  kMinutes = 0x02,
  kMinutesAlarm = 0x03,
  kHours = 0x04,
  kHoursAlarm = 0x05,
  kWeekday = 0x06,
  kDayOfMonth = 0x07,
  kMonth = 0x08,
  kYear = 0x09,
  kRegisterA = 0x0a,
  kRegisterB = 0x0b,
  kRegisterC = 0x0c,
  kRegisterD = 0x0d,
  kCentury = 0x32,
};

constexpr uint8_t kTimeRegisters[] = {kSeconds,    kMinutes, kHours, kWeekday,
                                      kDayOfMonth, kMonth,   kYear,  kCentury};

constexpr uint8_t kIndexPort = 0;
constexpr uint8_t kDataPort = 1;
constexpr uint8_t kIndexMask = 0x7f;
constexpr uint8_t kNmiDisable = 0x80;

constexpr uint8_t kAWritable = 0x7f;  // everything but UIP
constexpr uint8_t kARateSelect = 0x0f;
constexpr uint8_t kBSet = 0x80;
constexpr uint8_t kBUpdateEnable = 0x10;
constexpr uint8_t kBBinary = 0x04;
constexpr uint8_t kB24Hour = 0x02;
constexpr uint8_t kCIrqFlag = 0x80;
constexpr uint8_t kCPeriodicFlag = 0x40;
constexpr uint8_t kCAlarmFlag = 0x20;
constexpr uint8_t kCUpdateFlag = 0x10;
constexpr uint8_t kCEnableableFlags = kCPeriodicFlag | kCAlarmFlag | kCUpdateFlag;
constexpr uint8_t kDValidRamAndTime = 0x80;
constexpr uint8_t kHourPm = 0x80;
constexpr uint8_t kAlarmDontCare = 0xc0;

// Power-on values: 32.768 kHz time base with a 1024 Hz rate, 24-hour BCD, valid RAM.
constexpr uint8_t kDefaultRegisterA = 0x26;
constexpr uint8_t kDefaultRegisterB = kB24Hour;

constexpr int64_t kNsPerSecond = 1'000'000'000;
constexpr int64_t kSecondsPerDay = 86'400;

struct CivilTime {
  int year;
  unsigned month, day, hour, minute, second;
  unsigned weekday;  // 1 = Sunday, as the RTC counts
};

CivilTime civil_from_seconds(int64_t unix_seconds) {
  using namespace std::chrono;
  sys_seconds time{seconds{unix_seconds}};
  sys_days day = floor<days>(time);
  year_month_day date{day};
  hh_mm_ss clock{time - day};
  return {static_cast<int>(date.year()),
          static_cast<unsigned>(date.month()),
          static_cast<unsigned>(date.day()),
          static_cast<unsigned>(clock.hours().count()),
          static_cast<unsigned>(clock.minutes().count()),
          static_cast<unsigned>(clock.seconds().count()),
          weekday{day}.c_encoding() + 1};
}

// `day` may run past the end of its month (a guest can write anything): it rolls over into
// the next month, which chrono defines for a valid year and month.
int64_t seconds_from_civil(const CivilTime& time) {
  using namespace std::chrono;
  sys_days first_of_month{year{time.year} / month{time.month} / 1};
  sys_days day = first_of_month + days{time.day - 1};
  return int64_t{day.time_since_epoch().count()} * kSecondsPerDay + time.hour * 3600 +
         time.minute * 60 + time.second;
}

int64_t floor_div(int64_t value, int64_t divisor) {
  int64_t quotient = value / divisor;
  return (value % divisor < 0) ? quotient - 1 : quotient;
}

int64_t floor_mod(int64_t value, int64_t divisor) {
  return value - floor_div(value, divisor) * divisor;
}

uint8_t encode(int64_t value, bool binary) {
  if (binary) return static_cast<uint8_t>(std::clamp<int64_t>(value, 0, 255));
  value = std::clamp<int64_t>(value, 0, 99);
  return static_cast<uint8_t>(value / 10 << 4 | value % 10);
}

// Decodes whatever the guest wrote; BCD digits above 9 are taken at face value.
unsigned decode(uint8_t byte, bool binary) {
  return binary ? byte : (byte >> 4) * 10u + (byte & 0x0f);
}

uint8_t encode_hour(unsigned hour, bool binary, bool hour_24) {
  if (hour_24) return encode(hour, binary);
  unsigned hour_12 = hour % 12 == 0 ? 12 : hour % 12;
  return encode(hour_12, binary) | (hour >= 12 ? kHourPm : 0);
}

unsigned decode_hour(uint8_t byte, bool binary, bool hour_24) {
  if (hour_24) return std::min(decode(byte, binary), 23u);
  unsigned hour_12 = std::min(decode(byte & ~kHourPm, binary), 12u) % 12;
  return hour_12 + ((byte & kHourPm) ? 12 : 0);
}

bool is_time_register(uint8_t index) {
  return std::find(std::begin(kTimeRegisters), std::end(kTimeRegisters), index) !=
         std::end(kTimeRegisters);
}

bool alarm_field_matches(uint8_t alarm, uint8_t value) {
  return (alarm & kAlarmDontCare) == kAlarmDontCare || alarm == value;
}

}  // namespace

CmosRtc::CmosRtc(TimeSource& time) : time_(time) {
  state_.ram[kRegisterA] = kDefaultRegisterA;
  state_.ram[kRegisterB] = kDefaultRegisterB;
  state_.ram[kRegisterD] = kDValidRamAndTime;
}

void CmosRtc::restore(const CmosState& state) {
  state_ = state;
  state_.index &= kIndexMask;
}

uint8_t CmosRtc::read_byte(uint64_t offset) {
  return offset == kDataPort ? read_data() : 0xff;
}

void CmosRtc::write_byte(uint64_t offset, uint8_t value) {
  if (offset == kIndexPort) {
    state_.index = value & kIndexMask;
    state_.nmi_disabled = value & kNmiDisable;
  } else if (offset == kDataPort) {
    write_data(value);
  }
}

uint8_t CmosRtc::read_data() {
  uint8_t index = state_.index;
  if (is_time_register(index) && !set_mode()) {
    return time_register_at(index, guest_seconds(time_.realtime_ns()));
  }
  switch (index) {
    case kRegisterA:
      return state_.ram[kRegisterA] & kAWritable;
    case kRegisterC:
      return read_register_c();
    case kRegisterD:
      return kDValidRamAndTime;
    default:
      return state_.ram[index];
  }
}

void CmosRtc::write_data(uint8_t value) {
  uint8_t index = state_.index;
  if (is_time_register(index)) {
    write_time_register(index, value);
    return;
  }
  switch (index) {
    case kRegisterA:
      state_.ram[kRegisterA] = value & kAWritable;
      return;
    case kRegisterB:
      write_register_b(value);
      return;
    case kRegisterC:
    case kRegisterD:
      return;  // read-only
    default:
      state_.ram[index] = value;
      return;
  }
}

bool CmosRtc::set_mode() const {
  return state_.ram[kRegisterB] & kBSet;
}
bool CmosRtc::binary_mode() const {
  return state_.ram[kRegisterB] & kBBinary;
}
bool CmosRtc::hour_24_mode() const {
  return state_.ram[kRegisterB] & kB24Hour;
}

int64_t CmosRtc::guest_seconds(int64_t host_ns) const {
  return floor_div(host_ns, kNsPerSecond) + state_.guest_offset_s;
}

void CmosRtc::set_guest_time(int64_t guest_s, int64_t host_ns) {
  state_.guest_offset_s = guest_s - floor_div(host_ns, kNsPerSecond);
}

void CmosRtc::freeze_time_registers(int64_t guest_s) {
  for (uint8_t index : kTimeRegisters) state_.ram[index] = time_register_at(index, guest_s);
}

int64_t CmosRtc::time_registers_to_seconds() const {
  const auto& ram = state_.ram;
  bool binary = binary_mode();
  CivilTime time{};
  time.year = static_cast<int>(decode(ram[kCentury], binary) * 100 +
                               std::min(decode(ram[kYear], binary), 99u));
  time.month = std::clamp(decode(ram[kMonth], binary), 1u, 12u);
  time.day = std::clamp(decode(ram[kDayOfMonth], binary), 1u, 31u);
  time.hour = decode_hour(ram[kHours], binary, hour_24_mode());
  time.minute = std::min(decode(ram[kMinutes], binary), 59u);
  time.second = std::min(decode(ram[kSeconds], binary), 59u);
  return seconds_from_civil(time);
}

uint8_t CmosRtc::time_register_at(uint8_t index, int64_t guest_s) const {
  CivilTime time = civil_from_seconds(guest_s);
  bool binary = binary_mode();
  switch (index) {
    case kSeconds:
      return encode(time.second, binary);
    case kMinutes:
      return encode(time.minute, binary);
    case kHours:
      return encode_hour(time.hour, binary, hour_24_mode());
    case kWeekday:
      return encode(time.weekday, binary);
    case kDayOfMonth:
      return encode(time.day, binary);
    case kMonth:
      return encode(time.month, binary);
    case kYear:
      return encode(floor_mod(time.year, 100), binary);
    case kCentury:
      return encode(floor_div(time.year, 100), binary);
    default:
      return state_.ram[index];
  }
}

// Outside SET mode a write changes that one field of the running clock at once.
void CmosRtc::write_time_register(uint8_t index, uint8_t value) {
  if (set_mode()) {
    state_.ram[index] = value;
    state_.time_written_while_set = true;
    return;
  }
  int64_t host_ns = time_.realtime_ns();
  freeze_time_registers(guest_seconds(host_ns));
  state_.ram[index] = value;
  set_guest_time(time_registers_to_seconds(), host_ns);
}

void CmosRtc::write_register_b(uint8_t value) {
  bool was_set = set_mode();
  bool now_set = value & kBSet;
  if (now_set) value &= ~kBUpdateEnable;  // datasheet: setting SET clears UIE
  state_.ram[kRegisterB] = value;
  if (now_set && !was_set) {
    state_.time_written_while_set = false;
    freeze_time_registers(guest_seconds(time_.realtime_ns()));
  } else if (!now_set && was_set && state_.time_written_while_set) {
    set_guest_time(time_registers_to_seconds(), time_.realtime_ns());
  }
}

uint8_t CmosRtc::read_register_c() {
  int64_t host_ns = time_.realtime_ns();
  int64_t guest_s = guest_seconds(host_ns);
  uint8_t flags = 0;
  if (state_.flags_baseline_valid) {
    if (periodic_ticks(host_ns) != periodic_ticks(state_.flags_baseline_host_ns)) {
      flags |= kCPeriodicFlag;
    }
    // SET inhibits update cycles, and with them the update-ended and alarm flags.
    int64_t previous_s = state_.flags_baseline_guest_s;
    if (!set_mode() && guest_s > previous_s) {
      flags |= kCUpdateFlag;
      if (alarm_matched_between(previous_s, guest_s)) flags |= kCAlarmFlag;
    }
  }
  state_.flags_baseline_valid = true;
  state_.flags_baseline_host_ns = host_ns;
  state_.flags_baseline_guest_s = guest_s;
  if (flags & state_.ram[kRegisterB] & kCEnableableFlags) flags |= kCIrqFlag;
  return flags;
}

// Whether an update cycle in (after_s, until_s] left the time equal to the alarm. One day
// covers every hour, minute and second, so no more than a day is searched.
bool CmosRtc::alarm_matched_between(int64_t after_s, int64_t until_s) const {
  const auto& ram = state_.ram;
  bool binary = binary_mode();
  int64_t last_s = std::min(until_s, after_s + kSecondsPerDay);
  for (int64_t s = after_s + 1; s <= last_s; ++s) {
    int64_t second_of_day = floor_mod(s, kSecondsPerDay);
    if (alarm_field_matches(ram[kSecondsAlarm], encode(second_of_day % 60, binary)) &&
        alarm_field_matches(ram[kMinutesAlarm], encode(second_of_day / 60 % 60, binary)) &&
        alarm_field_matches(
            ram[kHoursAlarm],
            encode_hour(static_cast<unsigned>(second_of_day / 3600), binary, hour_24_mode()))) {
      return true;
    }
  }
  return false;
}

// Periodic ticks since the epoch at register A's rate (0 = periodic output off).
int64_t CmosRtc::periodic_ticks(int64_t host_ns) const {
  unsigned rate_select = state_.ram[kRegisterA] & kARateSelect;
  if (rate_select == 0) return 0;
  // Rates 1 and 2 repeat 8 and 9 (256 and 128 Hz); 3-15 give 65536 >> rate Hz.
  int64_t hz = 65536 >> (rate_select < 3 ? rate_select + 7 : rate_select);
  return floor_div(host_ns, kNsPerSecond) * hz +
         floor_mod(host_ns, kNsPerSecond) * hz / kNsPerSecond;
}

}  // namespace ftvm
