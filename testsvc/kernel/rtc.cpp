#include "kernel/rtc.h"

#include "kernel/port_io.h"
#include "testsvc/abi.h"

namespace testsvc::kernel::rtc {
namespace {

// An update takes under 2 ms on real hardware; these bounds only stop a broken model from
// hanging the boot.
constexpr int kMaxUpdateWaitReads = 100000;
constexpr int kMaxAttempts = 8;

uint8_t ReadRegister(uint8_t index) {
  // Bit 7 of the index port would disable NMI on a PC; we leave it clear.
  Outb(abi::kRtcIndex, index);
  return Inb(abi::kRtcData);
}

bool WaitUntilNoUpdate() {
  for (int i = 0; i < kMaxUpdateWaitReads; ++i) {
    if ((ReadRegister(kRtcRegStatusA) & kRtcStatusAUpdateInProgress) == 0) return true;
  }
  return false;
}

RtcRegisters ReadTimeRegisters() {
  RtcRegisters raw;
  raw.seconds = ReadRegister(kRtcRegSeconds);
  raw.minutes = ReadRegister(kRtcRegMinutes);
  raw.hours = ReadRegister(kRtcRegHours);
  raw.day = ReadRegister(kRtcRegDay);
  raw.month = ReadRegister(kRtcRegMonth);
  raw.year = ReadRegister(kRtcRegYear);
  raw.century = ReadRegister(kRtcRegCentury);
  return raw;
}

}  // namespace

bool Read(DateTime* out) {
  bool settled = false;
  RtcRegisters raw;
  for (int attempt = 0; attempt < kMaxAttempts && !settled; ++attempt) {
    if (!WaitUntilNoUpdate()) continue;
    raw = ReadTimeRegisters();
    if (!WaitUntilNoUpdate()) continue;
    settled = ReadTimeRegisters() == raw;
  }
  *out = DecodeRtc(raw, ReadRegister(kRtcRegStatusB));
  return settled;
}

}  // namespace testsvc::kernel::rtc
