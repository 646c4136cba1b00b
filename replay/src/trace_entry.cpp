#include "replay/trace_entry.h"

namespace ftvm::replay {
namespace {

// One overload per alternative, so a new entry type without a name does not compile.
struct KindName {
  const char* operator()(const TimerEntry&) const { return "timer"; }
  const char* operator()(const ConsoleInputEntry&) const { return "console-input"; }
  const char* operator()(const ClockReadEntry&) const { return "clock-read"; }
  const char* operator()(const CheckpointEntry&) const { return "checkpoint"; }
  const char* operator()(const RegistersDigestEntry&) const { return "registers-digest"; }
  const char* operator()(const MemoryDigestEntry&) const { return "memory-digest"; }
  const char* operator()(const OutputDigestEntry&) const { return "output-digest"; }
  const char* operator()(const HorizonEntry&) const { return "horizon"; }
  const char* operator()(const InterruptWindowEntry&) const { return "interrupt-window"; }
  const char* operator()(const BlockCompletionEntry&) const { return "block-completion"; }
  const char* operator()(const NetFrameEntry&) const { return "net-frame"; }
  const char* operator()(const EndEntry&) const { return "end"; }
};

}  // namespace

const char* entry_kind_name(const TraceEntry& entry) {
  return std::visit(KindName{}, entry);
}

}  // namespace ftvm::replay
