// The console service thread: reads command lines from the UART (blocking; woken by the UART
// IRQ) and answers each with lines starting with abi::kReplyPrefix. See service.cpp for the
// commands and reply formats.
#pragma once

namespace testsvc::kernel::service {

void Start();

}  // namespace testsvc::kernel::service
