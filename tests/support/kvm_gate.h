// Tests that need a working /dev/kvm skip, with the reason, where there is none: a skip is
// counted and shown (scripts/test prints how many), never a silent pass.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "vmm/host_probe.h"
#include "vmm/result.h"

namespace ftvm::testing {

// Why KVM cannot be used here (Kvm::open's own advice), or nothing when it can. Probed once
// per process.
const std::optional<std::string>& kvm_unavailable_reason();

// The host probe's measurement (host_probe.h), made once per process: the gates below and the
// test guests that size their spins by this host's speed share it. Needs KVM.
const Result<GuestDebugFacts>& host_guest_debug();

// Why this host's KVM does not report hardware breakpoints in CPL0 guest code (measured once
// per process by the host probe, host_probe.h), or nothing when it does. Needs KVM.
const std::optional<std::string>& guest_breakpoints_unavailable_reason();

// Why this host's KVM does not take the interrupt-window exit exactly where the window opens
// (the host probe again), or nothing when it does. Needs KVM.
const std::optional<std::string>& exact_interrupt_window_unavailable_reason();

// The words every KVM skip starts with; scripts/test counts skips by them.
inline constexpr const char* kKvmSkipPrefix = "needs KVM: ";
inline constexpr const char* kBreakpointSkipPrefix = "needs guest breakpoints: ";
inline constexpr const char* kExactWindowSkipPrefix = "needs an exact interrupt window: ";

}  // namespace ftvm::testing

// First statement of a test (or its fixture's SetUp) that runs a VM on KVM.
#define FTVM_REQUIRE_KVM()                                                       \
  do {                                                                           \
    if (const auto& ftvm_kvm_reason = ::ftvm::testing::kvm_unavailable_reason()) \
      GTEST_SKIP() << ::ftvm::testing::kKvmSkipPrefix << *ftvm_kvm_reason;       \
  } while (false)

// First statement of a test that relies on KVM reporting hardware breakpoints in CPL0 guest
// code (breakpoint landmarks, --async auto's probes).
#define FTVM_REQUIRE_GUEST_BREAKPOINTS()                                                      \
  do {                                                                                        \
    FTVM_REQUIRE_KVM();                                                                       \
    if (const auto& ftvm_bp_reason = ::ftvm::testing::guest_breakpoints_unavailable_reason()) \
      GTEST_SKIP() << ::ftvm::testing::kBreakpointSkipPrefix << *ftvm_bp_reason;              \
  } while (false)

// First statement of a test about the interrupt-window exit where a host takes it exactly.
#define FTVM_REQUIRE_EXACT_INTERRUPT_WINDOW()                                         \
  do {                                                                                \
    FTVM_REQUIRE_KVM();                                                               \
    if (const auto& ftvm_window_reason =                                              \
            ::ftvm::testing::exact_interrupt_window_unavailable_reason())             \
      GTEST_SKIP() << ::ftvm::testing::kExactWindowSkipPrefix << *ftvm_window_reason; \
  } while (false)

namespace ftvm::testing {

// A test that runs on each vCPU backend, its parameter naming it: "kvm" (skipped, with the
// reason, where KVM is not usable) and "emu" (the software CPU, everywhere). Instantiate the
// suite with FTVM_ON_EACH_BACKEND.
class OnEachBackend : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "kvm") FTVM_REQUIRE_KVM();
  }
};

}  // namespace ftvm::testing

#define FTVM_ON_EACH_BACKEND(suite)                                          \
  INSTANTIATE_TEST_SUITE_P(Backends, suite, ::testing::Values("kvm", "emu"), \
                           [](const auto& info) { return info.param; })
