// The CMOS real-time clock, read once at boot for the banner.
#pragma once

#include "kernel/rtc_decode.h"

namespace testsvc::kernel::rtc {

// Reads the date and time, waiting for a moment when no update is in progress and reading
// until two consecutive reads agree. Returns false if the RTC never settled (the time is then
// the last value read). Every value read is a device input the VMM records.
bool Read(DateTime* out);

}  // namespace testsvc::kernel::rtc
