// Tests that need a working /dev/kvm skip, with the reason, where there is none: a skip is
// counted and shown (scripts/test prints how many), never a silent pass.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace ftvm::testing {

// Why KVM cannot be used here (Kvm::open's own advice), or nothing when it can. Probed once
// per process.
const std::optional<std::string>& kvm_unavailable_reason();

// The words every KVM skip starts with; scripts/test counts skips by them.
inline constexpr const char* kKvmSkipPrefix = "needs KVM: ";

}  // namespace ftvm::testing

// First statement of a test (or its fixture's SetUp) that runs a VM on KVM.
#define FTVM_REQUIRE_KVM()                                                       \
  do {                                                                           \
    if (const auto& ftvm_kvm_reason = ::ftvm::testing::kvm_unavailable_reason()) \
      GTEST_SKIP() << ::ftvm::testing::kKvmSkipPrefix << *ftvm_kvm_reason;       \
  } while (false)
