#include "vmm/devices/uart16550.h"

#include <algorithm>

namespace ftvm {
namespace {

enum Register : uint8_t {
  kRbrThrDll = 0,
  kIerDlm = 1,
  kIirFcr = 2,
  kLcr = 3,
  kMcr = 4,
  kLsr = 5,
  kMsr = 6,
  kScr = 7,
};

constexpr uint8_t kIerRxData = 0x01;
constexpr uint8_t kIerThre = 0x02;
constexpr uint8_t kIerLineStatus = 0x04;
constexpr uint8_t kIerModemStatus = 0x08;
constexpr uint8_t kIerWritable = 0x0f;

// Interrupt identifications, in IIR bits 3-0.
constexpr uint8_t kIirNone = 0x01;
constexpr uint8_t kIirLineStatus = 0x06;
constexpr uint8_t kIirRxData = 0x04;
constexpr uint8_t kIirCharacterTimeout = 0x0c;
constexpr uint8_t kIirThre = 0x02;
constexpr uint8_t kIirModemStatus = 0x00;
constexpr uint8_t kIirFifosEnabled = 0xc0;

constexpr uint8_t kFcrEnable = 0x01;
constexpr uint8_t kFcrClearRx = 0x02;
constexpr uint8_t kRxTriggerLevels[4] = {1, 4, 8, 14};

constexpr uint8_t kLcrDlab = 0x80;

constexpr uint8_t kMcrDtr = 0x01;
constexpr uint8_t kMcrRts = 0x02;
constexpr uint8_t kMcrOut1 = 0x04;
constexpr uint8_t kMcrOut2 = 0x08;
constexpr uint8_t kMcrLoop = 0x10;
constexpr uint8_t kMcrWritable = 0x1f;

constexpr uint8_t kLsrDataReady = 0x01;
constexpr uint8_t kLsrOverrun = 0x02;
constexpr uint8_t kLsrThrEmpty = 0x20;
constexpr uint8_t kLsrTransmitterEmpty = 0x40;

constexpr uint8_t kMsrDeltaCts = 0x01;
constexpr uint8_t kMsrDeltaDsr = 0x02;
constexpr uint8_t kMsrTrailingEdgeRi = 0x04;
constexpr uint8_t kMsrDeltaDcd = 0x08;
constexpr uint8_t kMsrDeltas = 0x0f;
constexpr uint8_t kMsrCts = 0x10;
constexpr uint8_t kMsrDsr = 0x20;
constexpr uint8_t kMsrRi = 0x40;
constexpr uint8_t kMsrDcd = 0x80;
constexpr uint8_t kMsrConnected = kMsrDcd | kMsrDsr | kMsrCts;

// The modem inputs (MSR bits 7-4) for a given MCR: a connected line, or in loopback the
// datasheet's internal wiring of the modem control outputs.
uint8_t modem_inputs(uint8_t mcr) {
  if (!(mcr & kMcrLoop)) return kMsrConnected;
  uint8_t inputs = 0;
  if (mcr & kMcrRts) inputs |= kMsrCts;
  if (mcr & kMcrDtr) inputs |= kMsrDsr;
  if (mcr & kMcrOut1) inputs |= kMsrRi;
  if (mcr & kMcrOut2) inputs |= kMsrDcd;
  return inputs;
}

uint8_t modem_deltas(uint8_t old_inputs, uint8_t new_inputs) {
  uint8_t changed = old_inputs ^ new_inputs;
  uint8_t deltas = 0;
  if (changed & kMsrCts) deltas |= kMsrDeltaCts;
  if (changed & kMsrDsr) deltas |= kMsrDeltaDsr;
  if (changed & kMsrDcd) deltas |= kMsrDeltaDcd;
  if ((old_inputs & kMsrRi) && !(new_inputs & kMsrRi)) deltas |= kMsrTrailingEdgeRi;
  return deltas;
}

bool is_trigger_level(uint8_t bytes) {
  return std::find(std::begin(kRxTriggerLevels), std::end(kRxTriggerLevels), bytes) !=
         std::end(kRxTriggerLevels);
}

}  // namespace

Uart16550::Uart16550(ConsoleSink& out, IrqLine irq) : out_(out), irq_(irq) {}

size_t Uart16550::receive(std::span<const uint8_t> bytes) {
  size_t accepted = std::min(bytes.size(), rx_space());
  for (size_t i = 0; i < accepted; ++i) push_rx(bytes[i]);
  update_irq();
  return accepted;
}

void Uart16550::receive_with_overrun(std::span<const uint8_t> bytes) {
  if (loopback()) return;  // the serial input is disconnected from the receiver
  for (uint8_t byte : bytes) push_rx(byte);
  update_irq();
}

bool Uart16550::request_to_send() const {
  return (state_.mcr & kMcrRts) != 0 && !loopback();
}

size_t Uart16550::rx_space() const {
  return loopback() ? 0 : rx_capacity() - state_.rx_count;
}

void Uart16550::restore(const UartState& state) {
  state_ = state;
  state_.rx_head %= kUartFifoBytes;
  state_.rx_count = static_cast<uint8_t>(std::min(size_t{state_.rx_count}, rx_capacity()));
  if (!is_trigger_level(state_.rx_trigger)) state_.rx_trigger = 1;
  state_.ier &= kIerWritable;
  state_.mcr &= kMcrWritable;
}

uint8_t Uart16550::read_byte(uint64_t offset) {
  uint8_t value = 0xff;
  switch (offset) {
    case kRbrThrDll:
      value = dlab() ? state_.dll : pop_rx();
      break;
    case kIerDlm:
      value = dlab() ? state_.dlm : state_.ier;
      break;
    case kIirFcr:
      value = read_iir();
      break;
    case kLcr:
      value = state_.lcr;
      break;
    case kMcr:
      value = state_.mcr;
      break;
    case kLsr:
      value = read_lsr();
      break;
    case kMsr:
      value = read_msr();
      break;
    case kScr:
      value = state_.scr;
      break;
  }
  update_irq();
  return value;
}

void Uart16550::write_byte(uint64_t offset, uint8_t value) {
  switch (offset) {
    case kRbrThrDll:
      if (dlab()) {
        state_.dll = value;
      } else {
        write_thr(value);
      }
      break;
    case kIerDlm:
      if (dlab()) {
        state_.dlm = value;
      } else {
        write_ier(value);
      }
      break;
    case kIirFcr:
      write_fcr(value);
      break;
    case kLcr:
      state_.lcr = value;
      break;
    case kMcr:
      write_mcr(value);
      break;
    case kScr:
      state_.scr = value;
      break;
    default:  // LSR and MSR are read-only (their writes are factory tests)
      break;
  }
  update_irq();
}

bool Uart16550::dlab() const {
  return state_.lcr & kLcrDlab;
}

bool Uart16550::loopback() const {
  return state_.mcr & kMcrLoop;
}

size_t Uart16550::rx_capacity() const {
  return state_.fifo_enabled ? kUartFifoBytes : 1;
}

uint8_t Uart16550::pop_rx() {
  if (state_.rx_count == 0) return state_.last_rx;
  state_.last_rx = state_.rx_fifo[state_.rx_head];
  state_.rx_head = (state_.rx_head + 1) % kUartFifoBytes;
  --state_.rx_count;
  return state_.last_rx;
}

void Uart16550::push_rx(uint8_t byte) {
  if (state_.rx_count < rx_capacity()) {
    state_.rx_fifo[(state_.rx_head + state_.rx_count) % kUartFifoBytes] = byte;
    ++state_.rx_count;
    return;
  }
  // Overrun. With FIFOs the byte in the shift register is lost and the FIFO is kept; without,
  // the new byte overwrites the unread one in RBR.
  state_.lsr_errors |= kLsrOverrun;
  if (!state_.fifo_enabled) state_.rx_fifo[state_.rx_head] = byte;
}

void Uart16550::clear_rx() {
  state_.rx_head = 0;
  state_.rx_count = 0;
}

uint8_t Uart16550::read_iir() {
  uint8_t id = pending_interrupt();
  // Reading IIR acknowledges a THR-empty interrupt, but only when it is the one reported.
  if (id == kIirThre) state_.thre_pending = false;
  return id | (state_.fifo_enabled ? kIirFifosEnabled : 0);
}

uint8_t Uart16550::read_lsr() {
  uint8_t lsr = state_.lsr_errors | kLsrThrEmpty | kLsrTransmitterEmpty;
  if (state_.rx_count > 0) lsr |= kLsrDataReady;
  state_.lsr_errors = 0;
  return lsr;
}

uint8_t Uart16550::read_msr() {
  uint8_t msr = state_.msr;
  state_.msr &= ~kMsrDeltas;
  return msr;
}

// The highest-priority enabled interrupt condition, as its IIR identification.
uint8_t Uart16550::pending_interrupt() const {
  const uint8_t ier = state_.ier;
  if ((ier & kIerLineStatus) && state_.lsr_errors) return kIirLineStatus;
  if ((ier & kIerRxData) && state_.rx_count > 0) {
    if (!state_.fifo_enabled || state_.rx_count >= state_.rx_trigger) return kIirRxData;
    return kIirCharacterTimeout;
  }
  if ((ier & kIerThre) && state_.thre_pending) return kIirThre;
  if ((ier & kIerModemStatus) && (state_.msr & kMsrDeltas)) return kIirModemStatus;
  return kIirNone;
}

void Uart16550::write_thr(uint8_t value) {
  // Writing THR acknowledges its empty interrupt; the byte leaves at once and THR is empty
  // again, so the line drops and rises as on real hardware (a new edge for the PIC).
  state_.thre_pending = false;
  update_irq();
  if (loopback()) {
    push_rx(value);
  } else {
    out_.write(std::span<const uint8_t>(&value, 1));
  }
  state_.thre_pending = true;
}

void Uart16550::write_ier(uint8_t value) {
  bool thre_enabled_now = (value & kIerThre) && !(state_.ier & kIerThre);
  state_.ier = value & kIerWritable;
  // Enabling the interrupt while THR is empty (it always is) raises it.
  if (thre_enabled_now) state_.thre_pending = true;
}

void Uart16550::write_fcr(uint8_t value) {
  bool enable = value & kFcrEnable;
  if (enable != state_.fifo_enabled) {
    clear_rx();  // switching between FIFO and 16450 mode empties the FIFOs
    state_.fifo_enabled = enable;
  }
  if (!enable) return;  // the other FCR bits are only written while FCR0 is set
  if (value & kFcrClearRx) clear_rx();
  // The TX FIFO reset bit has nothing to clear: transmission is instant.
  state_.rx_trigger = kRxTriggerLevels[value >> 6];
}

void Uart16550::write_mcr(uint8_t value) {
  uint8_t old_inputs = state_.msr & ~kMsrDeltas;
  state_.mcr = value & kMcrWritable;
  uint8_t new_inputs = modem_inputs(state_.mcr);
  uint8_t deltas = (state_.msr & kMsrDeltas) | modem_deltas(old_inputs, new_inputs);
  state_.msr = new_inputs | deltas;
}

void Uart16550::update_irq() {
  bool high = pending_interrupt() != kIirNone && (state_.mcr & kMcrOut2) && !loopback();
  if (high == state_.irq_level) return;
  state_.irq_level = high;
  irq_.set_level(high);
}

}  // namespace ftvm
