// Whether record and replay use the interrupt-window exit, from injected probe results: kvm_pvm
// (the exit comes where its emulation batch ends), nested kvm_amd (exact), a host exact in
// kernel code only, a failed probe, and the software CPU.
#include "vmm/exact_interrupt_window.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ftvm {
namespace {

using ::testing::HasSubstr;

GuestDebugFacts window(bool cpl0, bool cpl3) {
  GuestDebugFacts facts;
  facts.interrupt_window_cpl0 = cpl0;
  facts.interrupt_window_cpl3 = cpl3;
  return facts;
}

TEST(ExactInterruptWindowTest, KvmPvmsLateWindowIsNotUsed) {
  EXPECT_FALSE(exact_interrupt_window(Accel::kKvm, window(false, true)));
  EXPECT_THAT(describe_interrupt_window(Accel::kKvm, window(false, true)),
              HasSubstr("kernel code (CPL0): no; user code (CPL3): yes. Record and replay "
                        "deliver blocked interrupts at the next exit or a logged landmark"));
}

TEST(ExactInterruptWindowTest, AnExactWindowAtBothLevelsIsUsed) {
  EXPECT_TRUE(exact_interrupt_window(Accel::kKvm, window(true, true)));
  EXPECT_THAT(describe_interrupt_window(Accel::kKvm, window(true, true)),
              HasSubstr("deliver blocked interrupts there"));
}

TEST(ExactInterruptWindowTest, ExactInKernelCodeOnlyIsNotEnough) {
  EXPECT_FALSE(exact_interrupt_window(Accel::kKvm, window(true, false)));
}

TEST(ExactInterruptWindowTest, AFailedProbeMeansNoWindowAndSaysSo) {
  EXPECT_FALSE(exact_interrupt_window(Accel::kKvm, std::nullopt));
  EXPECT_THAT(describe_interrupt_window(Accel::kKvm, std::nullopt),
              HasSubstr("not measured (the host probe failed)"));
}

TEST(ExactInterruptWindowTest, TheSoftwareCpuIsExactWithoutAProbe) {
  EXPECT_TRUE(exact_interrupt_window(Accel::kEmu, std::nullopt));
  EXPECT_TRUE(exact_interrupt_window(Accel::kEmu, window(false, false)));
}

}  // namespace
}  // namespace ftvm
