#include "kernel/uart.h"

#include "kernel/config.h"
#include "kernel/cpu.h"
#include "kernel/panic.h"
#include "kernel/port_io.h"
#include "kernel/ring_buffer.h"
#include "kernel/sched.h"
#include "testsvc/abi.h"

namespace testsvc::kernel::uart {
namespace {

// Register offsets from abi::kCom1Base.
constexpr uint16_t kData = 0;         // RBR (read), THR (write); DLL when DLAB = 1
constexpr uint16_t kIntEnable = 1;    // IER; DLM when DLAB = 1
constexpr uint16_t kIntIdent = 2;     // IIR (read), FCR (write)
constexpr uint16_t kLineControl = 3;  // LCR
constexpr uint16_t kModemControl = 4;
constexpr uint16_t kLineStatus = 5;
constexpr uint16_t kModemStatus = 6;

constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kLcr8N1 = 0x03;
constexpr uint16_t kDivisor115200 = 1;        // 115200 = 1.8432 MHz / 16 / 1
constexpr uint8_t kFcrEnableAndClear = 0x07;  // FIFO on, clear RX and TX, RX trigger 1 byte
constexpr uint8_t kMcrDtrRtsOut2 = 0x0b;
constexpr uint8_t kMcrDtrOut2 = 0x09;  // RTS off: the other end holds its bytes
constexpr uint8_t kIerReceivedData = 0x01;
constexpr uint8_t kLsrDataReady = 0x01;
constexpr uint8_t kLsrOverrun = 0x02;
constexpr uint8_t kLsrThrEmpty = 0x20;
constexpr uint8_t kIirNoInterrupt = 0x01;

// A UART that never reports THR empty must not hang the guest forever: after this many polls
// the byte is written anyway. (A deterministic count of reads, so replay is not affected.)
constexpr uint32_t kMaxThrPolls = 1u << 16;
// Bound on reads per interrupt, in case the receiver never reports empty.
constexpr uint32_t kMaxReadsPerInterrupt = 4096;
// Hardware flow control. The sender offers bytes as fast as the receiver empties its FIFO, far
// faster than a shell answers lines, so a burst would overflow the ring and lose its middle.
// RTS goes off while the ring has less room than a FIFO's worth of bytes that may still arrive
// plus margin, and back on once the reader has taken it down to half.
constexpr size_t kRtsOffBelowFree = 64;
constexpr size_t kRtsOnAtOrBelow = kRxRingBytes / 2;
static_assert(kRtsOffBelowFree < kRtsOnAtOrBelow);

constinit ByteRing<kRxRingBytes> g_rx;
constinit sched::Thread* g_reader = nullptr;
constinit uint64_t g_rx_bytes = 0;
constinit uint64_t g_rx_dropped = 0;
constinit uint64_t g_rx_overruns = 0;
constinit bool g_rts_off = false;

uint8_t Read(uint16_t reg) {
  return Inb(abi::kCom1Base + reg);
}
void Write(uint16_t reg, uint8_t value) {
  Outb(abi::kCom1Base + reg, value);
}

// Called with interrupts disabled, after the ring grew or shrank.
void UpdateFlowControl() {
  const size_t held = g_rx.size();
  if (!g_rts_off && kRxRingBytes - held < kRtsOffBelowFree) {
    Write(kModemControl, kMcrDtrOut2);
    g_rts_off = true;
  } else if (g_rts_off && held <= kRtsOnAtOrBelow) {
    Write(kModemControl, kMcrDtrRtsOut2);
    g_rts_off = false;
  }
}

// Moves every byte the receiver holds into the ring. Each read is an exit at which the VMM may
// hand the FIFO another byte, so a burst keeps this loop going: flow control is checked per
// byte, or the ring would overflow before the reader ever ran.
bool DrainReceiver() {
  bool received = false;
  for (uint32_t i = 0; i < kMaxReadsPerInterrupt; ++i) {
    const uint8_t lsr = Read(kLineStatus);
    if ((lsr & kLsrOverrun) != 0) ++g_rx_overruns;
    if ((lsr & kLsrDataReady) == 0) break;
    const uint8_t byte = Read(kData);
    ++g_rx_bytes;
    if (!g_rx.Push(byte)) ++g_rx_dropped;
    UpdateFlowControl();
    received = true;
  }
  return received;
}

}  // namespace

void Init() {
  Write(kIntEnable, 0);
  Write(kLineControl, kLcrDlab);
  Write(kData, kDivisor115200 & 0xff);
  Write(kIntEnable, kDivisor115200 >> 8);
  Write(kLineControl, kLcr8N1);
  Write(kIntIdent, kFcrEnableAndClear);  // before RTS: input is only sent after it
  Write(kModemControl, kMcrDtrRtsOut2);
  (void)Read(kLineStatus);  // clear stale line status
  (void)Read(kModemStatus);
}

void EnableInterrupts() {
  IrqGuard guard;
  Write(kIntEnable, kIerReceivedData);
  OnInterrupt();
}

void PutByte(uint8_t byte) {
  for (uint32_t i = 0; i < kMaxThrPolls; ++i) {
    if ((Read(kLineStatus) & kLsrThrEmpty) != 0) break;
  }
  Write(kData, byte);
}

void OnInterrupt() {
  bool received = DrainReceiver();
  // Acknowledge any other cause (line status, modem status, THR empty) by reading IIR and the
  // register it names, until the UART reports nothing pending: with an edge-triggered PIC a
  // cause left pending would keep the line high and no later interrupt would be seen.
  for (uint32_t i = 0; i < kMaxReadsPerInterrupt; ++i) {
    const uint8_t iir = Read(kIntIdent);
    if ((iir & kIirNoInterrupt) != 0) break;
    switch ((iir >> 1) & 0x7) {
      case 0:  // modem status
        (void)Read(kModemStatus);
        break;
      case 3:  // receiver line status
        if ((Read(kLineStatus) & kLsrOverrun) != 0) ++g_rx_overruns;
        break;
      case 2:  // received data available
      case 6:  // character timeout
        received = DrainReceiver() || received;
        break;
      default:  // THR empty: reading IIR acknowledged it
        break;
    }
  }
  if (received && g_reader != nullptr) {
    sched::Wake(g_reader);
    g_reader = nullptr;
  }
}

uint8_t ReadByte() {
  IrqGuard guard;
  uint8_t byte = 0;
  while (!g_rx.Pop(&byte)) {
    if (g_reader != nullptr && g_reader != sched::Current()) Panic("uart: two readers");
    g_reader = sched::Current();
    sched::Block();
  }
  if (g_rts_off) UpdateFlowControl();
  return byte;
}

uint64_t RxBytes() {
  IrqGuard guard;
  return g_rx_bytes;
}

uint64_t RxDropped() {
  IrqGuard guard;
  return g_rx_dropped;
}

}  // namespace testsvc::kernel::uart
