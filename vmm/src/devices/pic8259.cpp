#include "vmm/devices/pic8259.h"

#include <optional>

namespace ftvm {
namespace {

constexpr uint8_t kCascadeLine = 2;
constexpr uint8_t kSpuriousLine = 7;
constexpr uint8_t kIsaIrq2Redirect = 9;  // the AT wires the ISA bus's IRQ2 pin to IRQ9
constexpr uint8_t kLinesPerChip = 8;

constexpr uint8_t kCommandPort = 0;
constexpr uint8_t kDataPort = 1;

constexpr uint8_t kIcw1Bit = 0x10;
constexpr uint8_t kIcw1NeedsIcw4 = 0x01;
constexpr uint8_t kIcw1Single = 0x02;
constexpr uint8_t kIcw1LevelTriggered = 0x08;
constexpr uint8_t kIcw4AutoEoi = 0x02;
constexpr uint8_t kIcw4SpecialFullyNested = 0x10;
constexpr uint8_t kOcw3Bit = 0x08;
constexpr uint8_t kOcw3Poll = 0x04;
constexpr uint8_t kOcw3ReadRegister = 0x02;
constexpr uint8_t kOcw3ReadIsr = 0x01;
constexpr uint8_t kOcw3SetSpecialMask = 0x40;
constexpr uint8_t kOcw3SpecialMask = 0x20;
constexpr uint8_t kPollInterruptPresent = 0x80;

// OCW2 commands: bits 7-5 (R, SL, EOI).
enum class Ocw2 : uint8_t {
  kClearRotateInAutoEoi = 0,
  kNonSpecificEoi = 1,
  kNoOperation = 2,
  kSpecificEoi = 3,
  kSetRotateInAutoEoi = 4,
  kRotateOnNonSpecificEoi = 5,
  kSetPriority = 6,
  kRotateOnSpecificEoi = 7,
};

uint8_t bit(uint8_t line) {
  return static_cast<uint8_t>(1u << line);
}

// Priority 0 is the highest; the line after `lowest_priority` has it (IRQ0 until rotated).
uint8_t priority_of(const Pic8259ChipState& chip, uint8_t line) {
  return (line - chip.lowest_priority - 1) & 7;
}

std::optional<uint8_t> highest_priority_line(const Pic8259ChipState& chip, uint8_t bits) {
  for (uint8_t priority = 0; priority < kLinesPerChip; ++priority) {
    uint8_t line = (priority + chip.lowest_priority + 1) & 7;
    if (bits & bit(line)) return line;
  }
  return std::nullopt;
}

// The request this chip would signal on its INT output, if any.
std::optional<uint8_t> deliverable_line(const Pic8259ChipState& chip, bool is_master) {
  if (chip.init_step != PicInitStep::kReady) return std::nullopt;
  std::optional<uint8_t> request = highest_priority_line(chip, chip.irr & ~chip.imr);
  if (!request) return std::nullopt;
  // In special mask mode a masked level stops holding the others off, even while in service.
  uint8_t in_service = chip.special_mask ? chip.isr & ~chip.imr : chip.isr;
  std::optional<uint8_t> serviced = highest_priority_line(chip, in_service);
  if (!serviced || priority_of(chip, *request) < priority_of(chip, *serviced)) return request;
  // Special fully nested mode lets a (necessarily higher-priority) slave request nest inside
  // the slave request the master is already servicing through IR2.
  bool nested_slave_request = is_master && chip.special_fully_nested && *request == kCascadeLine &&
                              *serviced == kCascadeLine;
  return nested_slave_request ? request : std::nullopt;
}

void set_line(Pic8259ChipState& chip, uint8_t line, bool high) {
  bool was_high = chip.line_levels & bit(line);
  if (high) {
    chip.line_levels |= bit(line);
  } else {
    chip.line_levels &= ~bit(line);
  }
  if (chip.level_triggered) {
    chip.irr = high ? (chip.irr | bit(line)) : (chip.irr & ~bit(line));
  } else if (high && !was_high) {
    chip.irr |= bit(line);
  }
}

// The chip's half of an INTA cycle (or of a poll) for `line`.
void take_request(Pic8259ChipState& chip, uint8_t line) {
  // A level-triggered request stays in the IRR for as long as its line is high.
  if (!chip.level_triggered) chip.irr &= ~bit(line);
  if (!chip.auto_eoi) {
    chip.isr |= bit(line);
  } else if (chip.rotate_on_auto_eoi) {
    chip.lowest_priority = line;
  }
}

void start_initialization(Pic8259ChipState& chip, uint8_t icw1) {
  chip.level_triggered = icw1 & kIcw1LevelTriggered;
  chip.single = icw1 & kIcw1Single;
  chip.icw4_expected = icw1 & kIcw1NeedsIcw4;
  chip.init_step = PicInitStep::kExpectIcw2;
  // The datasheet's initialization reset: the edge sense is re-armed (a line already high must
  // fall and rise again to request), masks cleared, priorities fixed, status read set to IRR,
  // special mask mode off, and every ICW4 function off until an ICW4 says otherwise.
  chip.irr = chip.level_triggered ? chip.line_levels : 0;
  chip.isr = 0;
  chip.imr = 0;
  chip.lowest_priority = 7;
  chip.read_isr = false;
  chip.poll = false;
  chip.special_mask = false;
  chip.icw4 = 0;
  chip.auto_eoi = false;
  chip.rotate_on_auto_eoi = false;
  chip.special_fully_nested = false;
}

PicInitStep step_after_icw3(const Pic8259ChipState& chip) {
  return chip.icw4_expected ? PicInitStep::kExpectIcw4 : PicInitStep::kReady;
}

void write_data(Pic8259ChipState& chip, uint8_t value) {
  switch (chip.init_step) {
    case PicInitStep::kExpectIcw2:
      chip.vector_base = value & 0xf8;
      chip.init_step = chip.single ? step_after_icw3(chip) : PicInitStep::kExpectIcw3;
      return;
    case PicInitStep::kExpectIcw3:
      chip.icw3 = value;
      chip.init_step = step_after_icw3(chip);
      return;
    case PicInitStep::kExpectIcw4:
      chip.icw4 = value;
      chip.auto_eoi = value & kIcw4AutoEoi;
      chip.special_fully_nested = value & kIcw4SpecialFullyNested;
      chip.init_step = PicInitStep::kReady;
      return;
    case PicInitStep::kReady:
      chip.imr = value;
      return;
  }
}

void end_of_interrupt(Pic8259ChipState& chip, std::optional<uint8_t> line, bool rotate) {
  if (!line) return;  // a non-specific EOI with nothing in service
  chip.isr &= ~bit(*line);
  if (rotate) chip.lowest_priority = *line;
}

void write_ocw2(Pic8259ChipState& chip, uint8_t value) {
  uint8_t level = value & 7;
  switch (static_cast<Ocw2>(value >> 5)) {
    case Ocw2::kClearRotateInAutoEoi:
      chip.rotate_on_auto_eoi = false;
      return;
    case Ocw2::kSetRotateInAutoEoi:
      chip.rotate_on_auto_eoi = true;
      return;
    case Ocw2::kNonSpecificEoi:
      end_of_interrupt(chip, highest_priority_line(chip, chip.isr), false);
      return;
    case Ocw2::kRotateOnNonSpecificEoi:
      end_of_interrupt(chip, highest_priority_line(chip, chip.isr), true);
      return;
    case Ocw2::kSpecificEoi:
      end_of_interrupt(chip, level, false);
      return;
    case Ocw2::kRotateOnSpecificEoi:
      end_of_interrupt(chip, level, true);
      return;
    case Ocw2::kSetPriority:
      chip.lowest_priority = level;
      return;
    case Ocw2::kNoOperation:
      return;
  }
}

void write_ocw3(Pic8259ChipState& chip, uint8_t value) {
  if (value & kOcw3Poll) chip.poll = true;
  if (value & kOcw3ReadRegister) chip.read_isr = value & kOcw3ReadIsr;
  if (value & kOcw3SetSpecialMask) chip.special_mask = value & kOcw3SpecialMask;
}

void write_command(Pic8259ChipState& chip, uint8_t value) {
  if (value & kIcw1Bit) {
    start_initialization(chip, value);
  } else if (value & kOcw3Bit) {
    write_ocw3(chip, value);
  } else {
    write_ocw2(chip, value);
  }
}

}  // namespace

PicPair::PicPair() = default;

void PicPair::set_irq_level(uint8_t irq, bool high) {
  if (irq >= 2 * kLinesPerChip) return;
  if (irq == kCascadeLine) irq = kIsaIrq2Redirect;
  if (irq < kLinesPerChip) {
    set_line(state_.master, irq, high);
  } else {
    set_line(state_.slave, irq - kLinesPerChip, high);
  }
  update_cascade();
}

bool PicPair::interrupt_pending() const {
  return deliverable_line(state_.master, true).has_value();
}

uint8_t PicPair::acknowledge() {
  std::optional<uint8_t> line = deliverable_line(state_.master, true);
  if (!line) return state_.master.vector_base | kSpuriousLine;
  if (*line == kCascadeLine && slave_attached()) {
    std::optional<uint8_t> slave_line = deliverable_line(state_.slave, false);
    take_request(state_.master, kCascadeLine);
    if (!slave_line) {
      update_cascade();
      return state_.slave.vector_base | kSpuriousLine;
    }
    acknowledge_line(state_.slave, *slave_line);
    return state_.slave.vector_base | *slave_line;
  }
  acknowledge_line(state_.master, *line);
  return state_.master.vector_base | *line;
}

void PicPair::restore(const PicState& state) {
  state_ = state;
  for (Pic8259ChipState* chip : {&state_.master, &state_.slave}) {
    chip->lowest_priority &= 7;
    if (chip->init_step > PicInitStep::kExpectIcw4) chip->init_step = PicInitStep::kReady;
  }
}

uint8_t PicPair::ChipPorts::read_byte(uint64_t offset) {
  return pair_.read_port(is_master_ ? pair_.state_.master : pair_.state_.slave, offset);
}

void PicPair::ChipPorts::write_byte(uint64_t offset, uint8_t value) {
  pair_.write_port(is_master_ ? pair_.state_.master : pair_.state_.slave, offset, value);
}

uint8_t PicPair::read_port(Pic8259ChipState& chip, uint64_t offset) {
  // After a poll command the next read from either port is the poll answer.
  if (chip.poll) return answer_poll(chip);
  if (offset == kCommandPort) return chip.read_isr ? chip.isr : chip.irr;
  if (offset == kDataPort) return chip.imr;
  return 0xff;
}

void PicPair::write_port(Pic8259ChipState& chip, uint64_t offset, uint8_t value) {
  if (offset == kCommandPort) {
    write_command(chip, value);
  } else if (offset == kDataPort) {
    write_data(chip, value);
  }
  update_cascade();
}

// A poll is an INTA cycle the CPU performs by reading: the highest request is taken into
// service and reported as bit 7 (present) plus its line number.
uint8_t PicPair::answer_poll(Pic8259ChipState& chip) {
  chip.poll = false;
  std::optional<uint8_t> line = deliverable_line(chip, &chip == &state_.master);
  if (!line) return 0;
  acknowledge_line(chip, *line);
  return kPollInterruptPresent | *line;
}

void PicPair::acknowledge_line(Pic8259ChipState& chip, uint8_t line) {
  take_request(chip, line);
  if (&chip == &state_.slave) {
    // The slave releases INT while it is acknowledged, so the master's edge sense sees it rise
    // again if the slave still has a request (an auto-EOI slave with several): not lost.
    set_line(state_.master, kCascadeLine, false);
  }
  update_cascade();
}

bool PicPair::slave_attached() const {
  return !state_.master.single && (state_.master.icw3 & bit(kCascadeLine));
}

void PicPair::update_cascade() {
  set_line(state_.master, kCascadeLine, deliverable_line(state_.slave, false).has_value());
}

}  // namespace ftvm
