#include "vmm/cpuid_filter.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace ftvm {
namespace {

kvm_cpuid_entry2 entry(uint32_t function, uint32_t index = 0) {
  kvm_cpuid_entry2 e{};
  e.function = function;
  e.index = index;
  e.eax = e.ebx = e.ecx = e.edx = 0xffffffff;
  return e;
}

const kvm_cpuid_entry2* find(const std::vector<kvm_cpuid_entry2>& v, uint32_t function,
                             uint32_t index = 0) {
  auto it = std::find_if(v.begin(), v.end(), [&](const kvm_cpuid_entry2& e) {
    return e.function == function && e.index == index;
  });
  return it == v.end() ? nullptr : &*it;
}

TEST(CpuidFilter, HidesRandomnessTimeAndApicFeatures) {
  auto filtered = filter_cpuid({entry(0x1), entry(0x7, 0), entry(0x80000001)});
  const auto* leaf1 = find(filtered, 0x1);
  ASSERT_NE(leaf1, nullptr);
  EXPECT_EQ(leaf1->ecx & (1u << 30), 0u) << "RDRAND";
  EXPECT_EQ(leaf1->ecx & (1u << 21), 0u) << "x2APIC";
  EXPECT_EQ(leaf1->ecx & (1u << 24), 0u) << "TSC deadline";
  EXPECT_EQ(leaf1->ecx & (1u << 31), 0u) << "hypervisor";
  EXPECT_EQ(leaf1->edx & (1u << 9), 0u) << "APIC";
  EXPECT_NE(leaf1->edx & 1u, 0u) << "unrelated features (FPU) stay";
  const auto* leaf7 = find(filtered, 0x7);
  ASSERT_NE(leaf7, nullptr);
  EXPECT_EQ(leaf7->ebx & (1u << 18), 0u) << "RDSEED";
  EXPECT_EQ(leaf7->ebx & (1u << 11), 0u) << "RTM";
  EXPECT_EQ(leaf7->ecx & (1u << 22), 0u) << "RDPID";
  EXPECT_NE(leaf7->ebx & 1u, 0u) << "FSGSBASE stays";
  EXPECT_EQ(find(filtered, 0x80000001)->edx & (1u << 27), 0u) << "RDTSCP";
}

TEST(CpuidFilter, RemovesParavirtAndTimingLeaves) {
  auto filtered = filter_cpuid({entry(0x0), entry(0x6), entry(0xa), entry(0x15), entry(0x16),
                                entry(0x40000000), entry(0x40000001), entry(0x80000000)});
  EXPECT_NE(find(filtered, 0x0), nullptr);
  EXPECT_NE(find(filtered, 0x80000000), nullptr);
  for (uint32_t hidden : {0x6u, 0xau, 0x15u, 0x16u, 0x40000000u, 0x40000001u}) {
    EXPECT_EQ(find(filtered, hidden), nullptr) << std::hex << hidden;
  }
}

TEST(CpuidFilter, OnlySubleafZeroOfLeaf7IsMasked) {
  auto filtered = filter_cpuid({entry(0x7, 1)});
  EXPECT_EQ(find(filtered, 0x7, 1)->ebx, 0xffffffffu);
}

}  // namespace
}  // namespace ftvm
