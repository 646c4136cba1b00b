// The 256-entry IDT: every vector goes to its stub in isr.S, then to isr_dispatch.
#pragma once

namespace testsvc::kernel::idt {

void Init();

}  // namespace testsvc::kernel::idt
