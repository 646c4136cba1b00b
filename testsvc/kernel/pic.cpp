#include "kernel/pic.h"

#include "kernel/port_io.h"
#include "testsvc/abi.h"

namespace testsvc::kernel::pic {
namespace {

constexpr uint8_t kIcw1Init = 0x10;
constexpr uint8_t kIcw1NeedIcw4 = 0x01;  // edge triggered, cascade mode: bits 3, 1 clear
constexpr uint8_t kIcw4Mode8086 = 0x01;  // normal (not automatic) EOI, not buffered
constexpr uint8_t kOcw2NonSpecificEoi = 0x20;
constexpr uint8_t kOcw3ReadIsr = 0x0b;
constexpr uint8_t kSpuriousLine = 7;  // the PIC reports a vanished request as its IRQ 7

constexpr uint8_t kMasterMask =
    static_cast<uint8_t>(~((1u << abi::kIrqPit) | (1u << abi::kIrqCascade) | (1u << abi::kIrqCom1) |
                           (1u << abi::kIrqVirtioBlk) | (1u << abi::kIrqVirtioNet)));
constexpr uint8_t kSlaveMask = 0xff;

uint8_t ReadIsr(uint16_t command_port) {
  Outb(command_port, kOcw3ReadIsr);
  return Inb(command_port);
}

}  // namespace

void Init() {
  // Mask everything while reprogramming.
  Outb(abi::kPicMasterData, 0xff);
  Outb(abi::kPicSlaveData, 0xff);

  Outb(abi::kPicMasterCommand, kIcw1Init | kIcw1NeedIcw4);
  Outb(abi::kPicSlaveCommand, kIcw1Init | kIcw1NeedIcw4);
  Outb(abi::kPicMasterData, abi::kPicMasterVectorBase);  // ICW2
  Outb(abi::kPicSlaveData, abi::kPicSlaveVectorBase);
  Outb(abi::kPicMasterData, 1u << abi::kIrqCascade);  // ICW3: slave on IRQ2
  Outb(abi::kPicSlaveData, abi::kIrqCascade);         // ICW3: slave identity
  Outb(abi::kPicMasterData, kIcw4Mode8086);
  Outb(abi::kPicSlaveData, kIcw4Mode8086);

  Outb(abi::kPicMasterData, kMasterMask);
  Outb(abi::kPicSlaveData, kSlaveMask);
}

bool HandleSpurious(uint8_t irq) {
  if (irq == kSpuriousLine) {
    return (ReadIsr(abi::kPicMasterCommand) & (1u << kSpuriousLine)) == 0;
  }
  if (irq == 8 + kSpuriousLine) {
    if ((ReadIsr(abi::kPicSlaveCommand) & (1u << kSpuriousLine)) != 0) return false;
    // The master did see a real request on the cascade line: it still needs its EOI.
    Outb(abi::kPicMasterCommand, kOcw2NonSpecificEoi);
    return true;
  }
  return false;
}

void SendEoi(uint8_t irq) {
  if (irq >= 8) Outb(abi::kPicSlaveCommand, kOcw2NonSpecificEoi);
  Outb(abi::kPicMasterCommand, kOcw2NonSpecificEoi);
}

}  // namespace testsvc::kernel::pic
