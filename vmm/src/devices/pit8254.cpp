#include "vmm/devices/pit8254.h"

#include "testsvc/abi.h"

namespace ftvm {
namespace {

constexpr uint64_t kNsPerSecond = 1'000'000'000;
constexpr uint64_t kInputHz = testsvc::abi::kPitInputHz;
constexpr uint32_t kFullCount = 65536;  // what an initial count of 0 stands for
constexpr uint8_t kChannelCount = 3;
constexpr uint8_t kControlPort = 3;

constexpr uint8_t kReadBackSelect = 3;  // control word SC bits
constexpr uint8_t kLatchCommand = 0;    // control word RW bits
constexpr uint8_t kAccessLow = 1;
constexpr uint8_t kAccessHigh = 2;
constexpr uint8_t kAccessLowHigh = 3;
constexpr uint8_t kReadBackNoCount = 0x20;
constexpr uint8_t kReadBackNoStatus = 0x10;

// The behaviour a mode number selects (modes 6 and 7 are 2 and 3: bit 2 is "don't care").
uint8_t behaviour(uint8_t mode) {
  return mode >= 6 ? mode - 4 : mode;
}

bool is_periodic(const PitChannelState& channel) {
  uint8_t mode = behaviour(channel.mode);
  return mode == 2 || mode == 3;
}

// Modes 0 and 1 hold OUT high after terminal count; modes 4 and 5 only strobe it.
bool holds_out_high_when_expired(const PitChannelState& channel) {
  return behaviour(channel.mode) <= 1;
}

uint32_t period_ticks(const PitChannelState& channel) {
  return channel.initial_count == 0 ? kFullCount : channel.initial_count;
}

// Whole input-clock ticks in [load_ns, now_ns), split so that nothing overflows 64 bits.
uint64_t ticks_between(uint64_t load_ns, uint64_t now_ns) {
  if (now_ns <= load_ns) return 0;
  uint64_t elapsed = now_ns - load_ns;
  return elapsed / kNsPerSecond * kInputHz + elapsed % kNsPerSecond * kInputHz / kNsPerSecond;
}

// The first nanosecond at which `ticks` ticks have elapsed: the inverse of ticks_between.
uint64_t ticks_to_ns(uint64_t ticks) {
  return ticks / kInputHz * kNsPerSecond +
         (ticks % kInputHz * kNsPerSecond + kInputHz - 1) / kInputHz;
}

// Mode 3 counts down by two: OUT is high for the first ceil(n/2) ticks of each period and low
// for the rest. An odd count first drops by one in the high half and by three in the low half
// (datasheet), so both halves end at 2.
uint32_t square_wave_count(uint32_t n, uint32_t phase) {
  uint32_t high_ticks = (n + 1) / 2;
  bool odd = n % 2 == 1;
  bool high_half = phase < high_ticks;
  uint32_t position = high_half ? phase : phase - high_ticks;
  if (position == 0) return n;
  uint32_t first_step = !odd ? 2 : (high_half ? 1 : 3);
  return n - first_step - 2 * (position - 1);
}

uint16_t count_after(const PitChannelState& channel, uint64_t ticks) {
  uint32_t n = period_ticks(channel);
  switch (behaviour(channel.mode)) {
    case 2:
      return static_cast<uint16_t>(n - ticks % n);
    case 3:
      return static_cast<uint16_t>(square_wave_count(n, static_cast<uint32_t>(ticks % n)));
    default:  // one-shot modes keep counting down through zero, wrapping at 16 bits
      return static_cast<uint16_t>(n - ticks);
  }
}

bool out_after(const PitChannelState& channel, uint64_t ticks) {
  uint64_t n = period_ticks(channel);
  switch (behaviour(channel.mode)) {
    case 0:
    case 1:
      return ticks >= n;
    case 2:
      return n == 1 || ticks % n != n - 1;  // low for the tick when the count is 1
    case 3:
      return ticks % n < (n + 1) / 2;
    default:  // 4, 5: a one-tick low strobe at terminal count
      return ticks != n;
  }
}

uint16_t current_count(const PitChannelState& channel, uint64_t now_ns) {
  if (!channel.counting) return channel.initial_count;
  return count_after(channel, ticks_between(channel.load_ns, now_ns));
}

bool current_out(const PitChannelState& channel, uint64_t now_ns) {
  if (!channel.counting) return behaviour(channel.mode) != 0;  // mode 0 sets OUT low
  return out_after(channel, ticks_between(channel.load_ns, now_ns));
}

uint8_t low_byte(uint16_t value) {
  return static_cast<uint8_t>(value);
}
uint8_t high_byte(uint16_t value) {
  return static_cast<uint8_t>(value >> 8);
}

}  // namespace

Pit8254::Pit8254(TimeSource& time, IrqLine irq0) : time_(time), irq0_(irq0) {}

PitTimerSchedule Pit8254::timer_schedule() const {
  const PitChannelState& channel = state_.channels[0];
  bool periodic = is_periodic(channel);
  bool armed = channel.counting && (periodic || !channel.expired);
  if (!armed) return {false, 0, 0, state_.generation};
  uint64_t period_ns = ticks_to_ns(period_ticks(channel));
  return {true, channel.load_ns + period_ns, periodic ? period_ns : 0, state_.generation};
}

void Pit8254::expire(uint64_t generation) {
  PitChannelState& channel = state_.channels[0];
  if (generation != state_.generation || !channel.counting) return;
  if (!is_periodic(channel)) {
    if (channel.expired) return;
    channel.expired = true;
    if (holds_out_high_when_expired(channel)) {
      set_irq(true);
      return;
    }
  }
  set_irq(true);
  set_irq(false);
}

void Pit8254::restore(const PitState& state) {
  state_ = state;
  for (PitChannelState& channel : state_.channels) {
    channel.mode &= 7;
    channel.access &= 3;
    if (channel.access == kLatchCommand) channel.access = kAccessLowHigh;
  }
}

uint8_t Pit8254::read_byte(uint64_t offset) {
  if (offset < kChannelCount) return read_counter(state_.channels[offset]);
  return 0xff;  // the control word register is write-only
}

void Pit8254::write_byte(uint64_t offset, uint8_t value) {
  if (offset < kChannelCount) {
    write_counter(static_cast<uint8_t>(offset), value);
  } else if (offset == kControlPort) {
    write_control(value);
  }
}

uint8_t Pit8254::read_counter(PitChannelState& channel) {
  if (channel.status_latched) {
    channel.status_latched = false;
    return channel.latched_status;
  }
  if (channel.count_latched) {
    uint16_t count = channel.latched_count;
    if (channel.access == kAccessLowHigh && !channel.latch_high_next) {
      channel.latch_high_next = true;
      return low_byte(count);
    }
    channel.count_latched = false;
    channel.latch_high_next = false;
    return channel.access == kAccessLow ? low_byte(count) : high_byte(count);
  }
  uint16_t count = current_count(channel, time_.monotonic_ns());
  if (channel.access == kAccessLow) return low_byte(count);
  if (channel.access == kAccessHigh) return high_byte(count);
  channel.read_high_next = !channel.read_high_next;
  return channel.read_high_next ? low_byte(count) : high_byte(count);
}

void Pit8254::write_counter(uint8_t index, uint8_t value) {
  PitChannelState& channel = state_.channels[index];
  switch (channel.access) {
    case kAccessLow:
      load_count(index, value);
      return;
    case kAccessHigh:
      load_count(index, static_cast<uint16_t>(value << 8));
      return;
    default:
      break;
  }
  if (!channel.write_high_next) {
    channel.pending_low = value;
    channel.write_high_next = true;
    // Datasheet: in the one-shot modes the first byte of a new count stops the count.
    if (!is_periodic(channel)) stop_counting(index);
    return;
  }
  channel.write_high_next = false;
  load_count(index, static_cast<uint16_t>(channel.pending_low | value << 8));
}

void Pit8254::write_control(uint8_t value) {
  uint8_t select = value >> 6;
  if (select == kReadBackSelect) {
    read_back(value);
  } else if (((value >> 4) & 3) == kLatchCommand) {
    latch_count(state_.channels[select], time_.monotonic_ns());
  } else {
    program_channel(select, value);
  }
}

// A control word resets the channel's logic: nothing is counted until a new count arrives.
void Pit8254::program_channel(uint8_t index, uint8_t control) {
  PitChannelState& channel = state_.channels[index];
  channel.mode = (control >> 1) & 7;
  channel.access = (control >> 4) & 3;
  channel.bcd = control & 1;
  channel.counting = false;
  channel.null_count = true;
  channel.write_high_next = false;
  channel.read_high_next = false;
  channel.count_latched = false;
  channel.latch_high_next = false;
  channel.status_latched = false;
  channel.expired = false;
  if (index == 0) {
    channel0_reprogrammed();
    set_irq(false);  // mode 0's OUT goes low; in the other modes the IRQ line idles low
  }
}

// Later latch commands are ignored until the latched count has been read (datasheet).
void Pit8254::latch_count(PitChannelState& channel, uint64_t now_ns) {
  if (channel.count_latched) return;
  channel.latched_count = current_count(channel, now_ns);
  channel.count_latched = true;
  channel.latch_high_next = false;
}

void Pit8254::latch_status(PitChannelState& channel, uint64_t now_ns) {
  if (channel.status_latched) return;
  channel.latched_status =
      static_cast<uint8_t>(current_out(channel, now_ns) << 7 | channel.null_count << 6 |
                           channel.access << 4 | channel.mode << 1 | channel.bcd);
  channel.status_latched = true;
}

void Pit8254::read_back(uint8_t command) {
  bool latch_counts = !(command & kReadBackNoCount);
  bool latch_statuses = !(command & kReadBackNoStatus);
  uint8_t selected = (command >> 1) & 7;
  if (selected == 0 || !(latch_counts || latch_statuses)) return;
  uint64_t now_ns = time_.monotonic_ns();
  for (uint8_t index = 0; index < kChannelCount; ++index) {
    if (!(selected & (1u << index))) continue;
    if (latch_statuses) latch_status(state_.channels[index], now_ns);
    if (latch_counts) latch_count(state_.channels[index], now_ns);
  }
}

void Pit8254::load_count(uint8_t index, uint16_t count) {
  PitChannelState& channel = state_.channels[index];
  channel.initial_count = count;
  channel.load_ns = time_.monotonic_ns();
  channel.counting = true;
  channel.null_count = false;
  channel.expired = false;
  if (index == 0) {
    channel0_reprogrammed();
    set_irq(false);  // a new count drops mode 0's OUT
  }
}

void Pit8254::stop_counting(uint8_t index) {
  state_.channels[index].counting = false;
  if (index == 0) {
    channel0_reprogrammed();
    set_irq(false);
  }
}

void Pit8254::channel0_reprogrammed() {
  ++state_.generation;
}

void Pit8254::set_irq(bool high) {
  if (state_.irq_level == high) return;
  state_.irq_level = high;
  irq0_.set_level(high);
}

}  // namespace ftvm
