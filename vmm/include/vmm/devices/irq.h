// Interrupt request lines between device models and the interrupt controller.
#pragma once

#include <cstdint>

namespace ftvm {

// Implemented by the interrupt controller (the 8259A pair). Devices drive a line's level; the
// controller decides, per its programming, whether a level or an edge is a request.
class IrqSink {
 public:
  virtual ~IrqSink() = default;
  virtual void set_irq_level(uint8_t irq, bool high) = 0;
};

// One line of an IrqSink, handed to a device so it needs to know neither the controller nor
// its own IRQ number.
class IrqLine {
 public:
  IrqLine(IrqSink& sink, uint8_t irq) : sink_(&sink), irq_(irq) {}
  void set_level(bool high) { sink_->set_irq_level(irq_, high); }
  // An edge-triggered request: the line goes high then low.
  void pulse() {
    set_level(true);
    set_level(false);
  }
  uint8_t irq() const { return irq_; }

 private:
  IrqSink* sink_;
  uint8_t irq_;
};

}  // namespace ftvm
